import { request } from 'node:http';
import type { Guest } from '../core/ports.js';
import { sleep } from './proc.js';

/**
 * Readiness = the guest agent answers GET /health over the VM's tap with the
 * VM's own id (so a stale guest on a reused address can't be mistaken for it).
 */
export class AgentGuest implements Guest {
  constructor(private readonly agentPort: number) {}

  async waitReady(vm: { id: string; ip: string }, signal: AbortSignal): Promise<void> {
    let delay = 50;
    while (!signal.aborted) {
      const body = await getJson(`http://${vm.ip}:${this.agentPort}/health`, 1000, signal).catch(() => null);
      if (body && typeof body === 'object' && (body as { vmId?: unknown }).vmId === vm.id) return;
      await sleep(delay);
      delay = Math.min(delay * 2, 250);
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
    req.on('error', reject);
    req.end();
  });
}
