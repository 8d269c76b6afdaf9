import { request } from 'node:http';
import { FcmError } from '../../core/errors.js';
import type { FcRequest } from './firecracker-config.js';

const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * Minimal client for Firecracker's REST API over its Unix socket. One
 * connection per request (no keep-alive agent: nothing lingers after the
 * VMM exits). Every failure is an FcmError('hypervisor_failed'); a rejected
 * request carries Firecracker's `fault_message`.
 */
export class FirecrackerApi {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 10_000,
  ) {}

  /** Sends one request; resolves with the parsed JSON body, or null for 204. */
  send(req: FcRequest, timeoutMs = this.timeoutMs): Promise<unknown> {
    const what = `${req.method} ${req.path}`;
    const payload = req.body === undefined ? null : Buffer.from(JSON.stringify(req.body));
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (detail: string, cause?: unknown) => {
        if (settled) return;
        settled = true;
        reject(new FcmError('hypervisor_failed', `Firecracker API ${what}: ${detail}`, cause === undefined ? {} : { cause }));
      };
      const r = request(
        {
          socketPath: this.socketPath,
          method: req.method,
          path: req.path,
          // micro_http (Firecracker's HTTP server) does not take chunked bodies: always send a length.
          headers: {
            Accept: 'application/json',
            ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
          },
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) r.destroy(new Error('response too large'));
            else chunks.push(c);
          });
          res.on('error', (e) => fail(e.message, e));
          res.on('end', () => {
            if (settled) return;
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            let json: unknown = null;
            if (text.trim()) {
              try {
                json = JSON.parse(text);
              } catch {
                json = undefined;
              }
            }
            if (status >= 200 && status < 300) {
              settled = true;
              if (json === undefined) reject(new FcmError('hypervisor_failed', `Firecracker API ${what}: unparseable response ${text.slice(0, 200)}`));
              else resolve(json);
              return;
            }
            const fault =
              json && typeof json === 'object' && typeof (json as { fault_message?: unknown }).fault_message === 'string'
                ? (json as { fault_message: string }).fault_message
                : text.trim().slice(0, 500) || 'no details';
            fail(`rejected with ${status}: ${fault}`);
          });
        },
      );
      r.setTimeout(timeoutMs, () => r.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      r.on('error', (e: NodeJS.ErrnoException) => fail(e.code ? `${e.code} on ${this.socketPath}` : e.message, e));
      r.end(payload ?? undefined);
    });
  }
}
