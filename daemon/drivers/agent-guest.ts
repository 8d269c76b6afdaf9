import { request } from 'node:http';
import type { Guest } from '../core/ports/guest.js';
import { sleep } from './proc.js';

/**
 * Readiness = the guest agent answers GET /health over the VM's tap with the
 * VM's own id (so a stale guest on a reused address can't be mistaken for it).
 */
export class AgentGuest implements Guest {
  /** `tokenFor`: the VM's agent token (AgentKeys.tokenFor), for the routes that need it. */
  constructor(
    private readonly agentPort: number,
    private readonly tokenFor: (vmId: string) => string = () => '',
  ) {}

  async syncDisks(vm: { id: string; ip: string }, signal: AbortSignal): Promise<void> {
    await getJson(`http://${vm.ip}:${this.agentPort}/v1/sync`, SYNC_TIMEOUT_MS, signal, { method: 'POST', token: this.tokenFor(vm.id), body: '' }, true);
  }

  async setClock(vm: { id: string; ip: string }, epochMs: number, signal: AbortSignal): Promise<number> {
    const body = await getJson(`http://${vm.ip}:${this.agentPort}/v1/clock`, CLOCK_TIMEOUT_MS, signal, {
      method: 'PUT',
      token: this.tokenFor(vm.id),
      body: JSON.stringify({ epochMs }),
    });
    const before = (body as { previousEpochMs?: unknown } | null)?.previousEpochMs;
    if (typeof before !== 'number' || !Number.isFinite(before)) throw new Error('the guest agent did not set its clock');
    return before;
  }

  async armIdentityWatch(vm: { id: string; ip: string }, seconds: number, signal: AbortSignal): Promise<void> {
    const body = await getJson(`http://${vm.ip}:${this.agentPort}/v1/identity/watch`, WATCH_TIMEOUT_MS, signal, {
      method: 'POST',
      token: this.tokenFor(vm.id),
      body: JSON.stringify({ seconds }),
    }).catch((e: Error) => {
      // An image from before forks has no such route: say so rather than "answered 404".
      throw new Error(/answered 404/.test(e.message) ? 'its guest agent cannot take a new identity (an image from before forks: redeploy onto a VM of the current image)' : `arming its identity watch failed: ${e.message}`);
    });
    if ((body as { vmId?: unknown } | null)?.vmId !== vm.id) throw new Error('its guest agent armed a watch for another VM id');
  }

  async disarmIdentityWatch(vm: { id: string; ip: string }, signal: AbortSignal): Promise<void> {
    await getJson(`http://${vm.ip}:${this.agentPort}/v1/identity/watch`, WATCH_TIMEOUT_MS, signal, { method: 'DELETE', token: this.tokenFor(vm.id), body: '' }, true);
  }

  async waitReady(vm: { id: string; ip: string }, signal: AbortSignal): Promise<void> {
    // Tight polling first (a restored guest answers within a few hundred ms), then back off for cold boots.
    // Each early attempt is abandoned after 150 ms: a SYN sent before the guest's NIC is up is lost, and
    // TCP would only retransmit it after a full second.
    const started = Date.now();
    while (!signal.aborted) {
      const early = Date.now() - started < 3000;
      const body = await getJson(`http://${vm.ip}:${this.agentPort}/health`, early ? 150 : 1000, signal).catch(() => null);
      if (body && typeof body === 'object' && (body as { vmId?: unknown }).vmId === vm.id) return;
      await sleep(early ? 20 : 250);
    }
    throw signal.reason ?? new Error('aborted');
  }
}

/** The clock call is one small exchange with an agent that already answered /health. */
const CLOCK_TIMEOUT_MS = 5000;

/** Arming reads the seed disk once; disarming stops a thread. */
const WATCH_TIMEOUT_MS = 10_000;

/** A sync writes out what the guest's page cache holds: seconds under TCG for a fresh deploy. */
const SYNC_TIMEOUT_MS = 120_000;

interface Send {
  method: 'PUT' | 'POST' | 'DELETE';
  token: string;
  body: string;
}

/** A bounded JSON exchange (the agent is not trusted); a status other than 2xx rejects. */
function getJson(url: string, timeoutMs: number, signal: AbortSignal, send?: Send, empty = false): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = send
      ? { authorization: `Bearer ${send.token}`, ...(send.body ? { 'content-type': 'application/json' } : {}), 'content-length': String(Buffer.byteLength(send.body)) }
      : {};
    const req = request(url, { method: send?.method ?? 'GET', headers, timeout: timeoutMs, signal }, (res) => {
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) {
        res.resume();
        return reject(new Error(`the guest agent answered ${res.statusCode}`));
      }
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        data += c;
        if (data.length > 65536) req.destroy(new Error('response too large'));
      });
      res.on('end', () => {
        if (empty) return resolve(null);
        try {
          resolve(JSON.parse(data));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    // `timeout` above is idle time; this bounds the whole attempt, connect included.
    const t = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    req.on('close', () => clearTimeout(t));
    req.on('error', reject);
    req.end(send?.body);
  });
}
