import { request, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { AgentStreamParser } from '../core/deploys-output.js';
import { AppRuntimeError, type AppResult, type AppRuntime, type AppTarget, type LineSink } from '../core/deploys-ports.js';

export interface GuestAgentRuntimeOptions {
  port: number;
  /** The per-VM agent token (AgentKeys.tokenFor). */
  tokenFor(vmId: string): string;
  /** Where a VM's agent is; default http://<vm ip>:<port> (tests point it at a fake agent). */
  baseUrl?(vm: AppTarget): string;
  connectTimeoutMs?: number;
  /** A build may be silent this long (a slow install) before the agent counts as gone. */
  idleTimeoutMs?: number;
}

/**
 * The guest agent's app API (v1), over the VM's tap: HTTP on <vm ip>:7611
 * with the VM's bearer token, problem+json errors. Streamed answers are
 * output lines ending with one `fcm-result: {json}` line; they are relayed
 * line by line as they arrive.
 */
export class GuestAgentRuntime implements AppRuntime {
  constructor(private readonly o: GuestAgentRuntimeOptions) {}

  async putEnv(vm: AppTarget, vars: Record<string, string>): Promise<void> {
    const res = await this.open(vm, 'PUT', '/v1/env', { body: Buffer.from(JSON.stringify({ vars })), contentType: 'application/json' });
    res.resume();
  }

  async build(vm: AppTarget, version: number, commit: string, tar: Readable, onLine: LineSink): Promise<AppResult> {
    const res = await this.open(vm, 'POST', `/v1/releases/${version}`, {
      body: tar,
      contentType: 'application/x-tar',
      headers: { 'x-fcm-commit': commit },
    });
    return this.stream(res, onLine);
  }

  async activate(vm: AppTarget, version: number, onLine: LineSink): Promise<AppResult> {
    return this.stream(await this.open(vm, 'POST', `/v1/releases/${version}/activate`), onLine);
  }

  async restart(vm: AppTarget, onLine: LineSink): Promise<AppResult> {
    return this.stream(await this.open(vm, 'POST', '/v1/restart'), onLine);
  }

  async logs(vm: AppTarget, opts: { lines: number; follow: boolean }, signal: AbortSignal): Promise<Readable> {
    const q = `lines=${opts.lines}${opts.follow ? '&follow=1' : ''}`;
    // Following has no idle limit: a quiet app is not a dead agent. The caller's signal ends it.
    return this.open(vm, 'GET', `/v1/logs?${q}`, { signal, idleTimeoutMs: opts.follow ? 0 : undefined });
  }

  private stream(res: IncomingMessage, onLine: LineSink): Promise<AppResult> {
    return new Promise((resolve, reject) => {
      const parser = new AgentStreamParser(onLine);
      res.on('data', (c: Buffer) => parser.push(c));
      res.on('error', (e) => reject(new AppRuntimeError(`the output stream broke: ${e.message}`, 'unreachable')));
      res.on('end', () => {
        const result = parser.end();
        if (result) resolve(result);
        else reject(new AppRuntimeError('the guest agent stopped before reporting a result', 'unreachable'));
      });
    });
  }

  /** Sends a request; resolves with a 2xx response (body unread), rejects with AppRuntimeError otherwise. */
  private open(
    vm: AppTarget,
    method: string,
    path: string,
    o: { body?: Buffer | Readable; contentType?: string; headers?: Record<string, string>; signal?: AbortSignal; idleTimeoutMs?: number | undefined } = {},
  ): Promise<IncomingMessage> {
    const base = this.o.baseUrl?.(vm) ?? `http://${vm.ip}:${this.o.port}`;
    const idle = o.idleTimeoutMs ?? this.o.idleTimeoutMs ?? 5 * 60_000;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: AppRuntimeError) => {
        if (settled) return;
        settled = true;
        reject(e);
      };
      const req = request(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.o.tokenFor(vm.id)}`,
          ...(o.contentType ? { 'content-type': o.contentType } : {}),
          ...(Buffer.isBuffer(o.body) ? { 'content-length': String(o.body.length) } : {}),
          ...o.headers,
        },
        // One connection per call: long streams never share a socket, and a dead guest is noticed at connect.
        agent: false,
        ...(o.signal ? { signal: o.signal } : {}),
      });
      const connectTimer = setTimeout(() => req.destroy(new Error('connect timeout')), this.o.connectTimeoutMs ?? 5000);
      req.on('socket', (s) => {
        if (!s.connecting) clearTimeout(connectTimer);
        else s.once('connect', () => clearTimeout(connectTimer));
        if (idle) s.setTimeout(idle, () => req.destroy(new Error(`no answer for ${Math.round(idle / 1000)} s`)));
      });
      req.on('error', (e) => {
        clearTimeout(connectTimer);
        fail(new AppRuntimeError(e.message, 'unreachable'));
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        if (settled) return res.resume();
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          settled = true;
          resolve(res);
          return;
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 65536) text += c;
        });
        res.on('end', () => {
          let p: { code?: unknown; detail?: unknown } = {};
          try {
            p = JSON.parse(text) as typeof p;
          } catch {
            /* not problem+json */
          }
          const code = typeof p.code === 'string' ? p.code : `http_${status}`;
          fail(new AppRuntimeError(typeof p.detail === 'string' ? p.detail : `HTTP ${status}`, code));
        });
      });
      if (o.body === undefined) req.end();
      else if (Buffer.isBuffer(o.body)) req.end(o.body);
      else {
        const body = o.body;
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      }
    });
  }
}
