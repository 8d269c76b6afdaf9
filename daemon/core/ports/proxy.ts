/** The Proxy port. Driver: CaddyProxy (drivers/caddy-proxy.ts); unit tests use a recording fake (test/unit/routes.test.ts). */

/** The HTTPS front (Caddy): replaced whole from daemon state, so it can always be rebuilt. */
export interface Proxy {
  /** Loads a complete config. Throws when the proxy is unreachable or rejects it. */
  load(config: Record<string, unknown>): Promise<void>;
  /** Whether the proxy is running the config stamped with `id`. */
  state(id: string): Promise<'current' | 'stale' | 'unreachable'>;
}
