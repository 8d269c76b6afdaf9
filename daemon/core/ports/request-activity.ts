/**
 * When each host name last got a request through the HTTPS front. Driver:
 * CaddyAccessLog (drivers/caddy-access-log.ts: Caddy's access log, streamed
 * to the daemon over loopback); twin: MemoryRequestActivity
 * (drivers/memory/memory-host.ts).
 */
export interface RequestActivity {
  /** The daemon clock (ms) of the last request for `host` (lower case, no port); null: none seen. */
  lastRequestAt(host: string): number | null;
}
