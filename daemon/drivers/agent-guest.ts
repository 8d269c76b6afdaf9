import { request } from 'node:http';
import type { Guest } from '../core/ports/guest.js';
import { sleep } from './proc.js';

/**
 * Readiness = the guest agent answers GET /health over the VM's tap with the
 * VM's own id (so a stale guest on a reused address can't be mistaken for it).
 */
export class AgentGuest implements Guest {
  constructor(private readonly agentPort: number) {}

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

function getJson(url: string, timeoutMs: number, signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs, signal }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        data += c;
        if (data.length > 65536) req.destroy(new Error('response too large'));
      });
      res.on('end', () => {
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
    req.end();
  });
}
