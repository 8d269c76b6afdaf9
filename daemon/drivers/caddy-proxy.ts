import type { Proxy } from '../core/ports/proxy.js';

/**
 * Caddy's admin API (JSON). The whole config is replaced with POST /load;
 * "is our config live" is GET /id/<id> on the id the planner stamps.
 */
export class CaddyProxy implements Proxy {
  constructor(
    private readonly adminUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async load(config: Record<string, unknown>): Promise<void> {
    const res = await fetch(`${this.adminUrl}/load`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(config),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`POST /load → ${res.status}: ${(await res.text()).slice(0, 500)}`);
  }

  async state(id: string): Promise<'current' | 'stale' | 'unreachable'> {
    try {
      const res = await fetch(`${this.adminUrl}/id/${encodeURIComponent(id)}`, { signal: AbortSignal.timeout(3000) });
      await res.arrayBuffer();
      return res.ok ? 'current' : 'stale';
    } catch {
      return 'unreachable';
    }
  }

  /** PEM of Caddy's internal root CA (tls internal mode), for clients that must trust it. */
  async internalRootCa(): Promise<string> {
    const res = await fetch(`${this.adminUrl}/pki/ca/local`, { signal: AbortSignal.timeout(this.timeoutMs) });
    if (!res.ok) throw new Error(`GET /pki/ca/local → ${res.status}`);
    return ((await res.json()) as { root_certificate: string }).root_certificate;
  }
}
