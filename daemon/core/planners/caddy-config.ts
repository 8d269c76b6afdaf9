import { createHash } from 'node:crypto';
import type { VmState } from '../model.js';
import { vmHost } from './url.js';

export interface RouteVm {
  name: string;
  state: VmState;
  ip: string;
  port: number;
  /** Verified custom domains: routed, with certificates. */
  domains: string[];
  /** Claimed but not verified: deliberately absent from the config (no route, no certificate). */
  pendingDomains?: string[];
}

export type TlsMode = { mode: 'internal' } | { mode: 'acme'; email: string | null };

export interface CaddyPlanInput {
  vms: RouteVm[];
  publicIp: string;
  baseDomain: string;
  tls: TlsMode;
  /** Caddy's admin listener as Caddy spells it (e.g. `127.0.0.1:2019`); must stay where the daemon talks to it. */
  adminListen: string;
  httpPort: number;
  httpsPort: number;
  /**
   * Make apps' cookies host-only on the shared base domain: every VM's own
   * host is `<name>.<ip>.<baseDomain>`, all same-site, so a `Set-Cookie` with
   * `Domain=<ip>.<baseDomain>` (or any name in that zone) would reach every
   * other app. Such Domain attributes are removed from responses; cookies
   * for other domains (a verified custom domain's parent) are left alone.
   */
  stripCookieDomain?: boolean;
  /** The daemon's own API behind Caddy at `host` (HTTPS), proxied to the daemon's plain listener `upstream` (host:port); absent: not served. */
  api?: { host: string; upstream: string } | null;
  /**
   * Where requests for a sleeping or starting VM go (the daemon's wake
   * listener on loopback, `127.0.0.1:7780`): it wakes the VM if it sleeps,
   * holds the request until the guest runs and the app accepts, then serves
   * it — so the requests that arrive while a VM wakes (it is `starting` until
   * its agent answers) or boots are answered by the app, not a 503 page.
   * Absent: such VMs answer the 503 page.
   */
  wakeDial?: string;
  /**
   * Where Caddy streams its access log (JSON lines, its `net` writer; the
   * daemon on loopback, `tcp/127.0.0.1:7781`): the daemon keeps each host's
   * last request time, for idle sleep. Absent: no access log.
   */
  accessLogAddress?: string;
}

/** The Caddy logger whose access log goes to the daemon (idle sleep counts requests per host). */
export const ACCESS_LOGGER = 'fcm_access';

/** The request header naming the sleeping VM a request is for (set by Caddy, replacing anything a client sent). */
export const WAKE_HEADER = 'X-Fcm-Wake';

export interface CaddyPlan {
  /** `@id` stamped on the fcm server: a hash of everything else, so "is Caddy up to date" is one GET. */
  id: string;
  config: Record<string, unknown>;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The page a VM's URL shows while it is not running (503, so monitors see it). */
export function unavailablePage(name: string, state: VmState): string {
  const what =
    state === 'stopped'
      ? { title: `${name} is stopped`, hint: `Start it with: <code>fcm start ${name}</code>` }
      : state === 'failed'
        ? { title: `${name} failed`, hint: `See <code>fcm show ${name}</code>, then <code>fcm start ${name}</code>` }
        : { title: `${name} is ${state}`, hint: 'This page refreshes until it is up.' };
  const refresh = state === 'starting' || state === 'creating' || state === 'sleeping' ? '<meta http-equiv="refresh" content="3">' : '';
  return `<!doctype html><html><head><meta charset="utf-8">${refresh}<title>${esc(what.title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:15vh auto;padding:0 1rem;color:#333}code{background:#f3f3f3;padding:.1rem .3rem}</style>
</head><body><h1>${esc(what.title)}</h1><p>${what.hint}</p></body></html>\n`;
}

/**
 * Daemon state → the complete Caddy JSON config (pure; golden-file tested).
 * Loaded whole through the admin API (POST /load), so routes can always be
 * rebuilt from the database — after a Caddy restart, for example.
 * Running VMs are reverse-proxied to <ip>:<port>; sleeping and starting ones to the
 * daemon's wake listener (when there is one); others answer a 503 page.
 * Automatic HTTPS gets certificates (ACME, or Caddy's internal CA) for every
 * host and redirects HTTP to HTTPS.
 */
/**
 * RE2 (Go) pattern for Caddy's header `replace`: one or more adjacent `; Domain=<name in the
 * base domain's zone>` attributes (case-insensitive, optional leading dot), kept apart from
 * what follows by the `;` it captures. Adjacent ones go together: the last Domain attribute is
 * the one browsers use, so none may survive because its `;` was consumed by the one before.
 */
export function cookieDomainPattern(baseDomain: string): string {
  const zone = baseDomain.toLowerCase().replace(/\./g, '\\.');
  return `(?i)(;[ \\t]*domain[ \\t]*=[ \\t]*\\.?(?:[^;]*\\.)?${zone}\\.?[ \\t]*)+(;|$)`;
}

/**
 * The API's route: everything for its host goes to the daemon's plain
 * listener on this host. What the API needs of a proxy:
 *  - streaming: `git push` output, `fcm logs -f` and long-polls (waitVm) are
 *    answers written over minutes, chunked (no Content-Length), which Caddy
 *    flushes write by write without being told. Not `flush_interval: -1`:
 *    with it, Caddy (2.6, 2.7) ends every proxied request when a config is
 *    loaded, and fcm loads one whenever a VM changes state (a create's own
 *    answer got a 502; test/host/https-api.test.ts);
 *  - WebSockets (consoles): reverse_proxy passes upgrades through by itself;
 *    Caddy closes upgraded connections when a config is loaded, and the
 *    console client reconnects and replays what it missed;
 *  - no request body limit or timeout here: git pushes are large and slow,
 *    and the daemon bounds them itself (request timeout, body limits, the
 *    stall cut-off for readers that stop reading);
 *  - the client's address: Caddy sets X-Forwarded-For (replacing a client's
 *    own) and the daemon believes it only from its trusted proxies
 *    (loopback by default), and X-Forwarded-Proto https.
 */
function apiRoute(api: { host: string; upstream: string }): Record<string, unknown> {
  return {
    '@id': 'fcm-api',
    match: [{ host: [api.host] }],
    handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: api.upstream }] }],
    terminal: true,
  };
}

export function planCaddyConfig(input: CaddyPlanInput): CaddyPlan {
  const vms = [...input.vms].sort((a, b) => a.name.localeCompare(b.name));
  const hostsOf = (vm: RouteVm) => [vmHost(vm.name, input.publicIp, input.baseDomain), ...[...vm.domains].sort()];
  const stripCookies = input.stripCookieDomain
    ? { response: { replace: { 'Set-Cookie': [{ search_regexp: cookieDomainPattern(input.baseDomain), replace: '$2' }] } } }
    : null;
  const routes: Record<string, unknown>[] = vms.map((vm) => ({
    '@id': `vm-${vm.name}`,
    match: [{ host: hostsOf(vm) }],
    handle:
      vm.state === 'running'
        ? [
            {
              handler: 'reverse_proxy',
              upstreams: [{ dial: `${vm.ip}:${vm.port}` }],
              // A redeploy switches the guest's web port to the new release; should a connection be
              // refused in that instant (or while the app restarts), Caddy dials again for up to 2 s
              // instead of answering 502. Only failed dials are retried, so no request runs twice.
              load_balancing: { try_duration: '2s', try_interval: '50ms' },
              ...(stripCookies ? { headers: stripCookies } : {}),
            },
          ]
        : (vm.state === 'sleeping' || vm.state === 'starting') && input.wakeDial
          ? [
              {
                handler: 'reverse_proxy',
                upstreams: [{ dial: input.wakeDial }],
                // The daemon learns which VM from this header (set, so a client's own is replaced),
                // wakes it and serves the request; nothing else of the route reaches it.
                headers: { request: { set: { [WAKE_HEADER]: [vm.name] } }, ...(stripCookies ?? {}) },
                load_balancing: { try_duration: '2s', try_interval: '50ms' },
              },
            ]
          : [
            {
              handler: 'static_response',
              status_code: 503,
              headers: { 'Content-Type': ['text/html; charset=utf-8'], 'Retry-After': ['10'], 'Cache-Control': ['no-store'] },
              body: unavailablePage(vm.name, vm.state),
            },
          ],
    terminal: true,
  }));
  // The API first: its name can never be taken by a VM route (a VM named like its first label is refused too, main.ts).
  if (input.api) routes.unshift(apiRoute(input.api));
  routes.push({
    handle: [{ handler: 'static_response', status_code: 404, body: 'No app is deployed at this address.\n' }],
  });
  const subjects = [...(input.api ? [input.api.host] : []), ...vms.flatMap(hostsOf)];
  const issuer = input.tls.mode === 'internal' ? { module: 'internal' } : { module: 'acme', ...(input.tls.email ? { email: input.tls.email } : {}) };
  const body = {
    admin: { listen: input.adminListen },
    ...(input.accessLogAddress
      ? {
          logging: {
            logs: {
              // Access lines go to the daemon only, not also to Caddy's own log.
              default: { exclude: [`http.log.access.${ACCESS_LOGGER}`] },
              [ACCESS_LOGGER]: {
                writer: { output: 'net', address: input.accessLogAddress },
                encoder: { format: 'json' },
                include: [`http.log.access.${ACCESS_LOGGER}`],
              },
            },
          },
        }
      : {}),
    apps: {
      http: {
        http_port: input.httpPort,
        https_port: input.httpsPort,
        servers: {
          fcm: {
            listen: [`:${input.httpsPort}`],
            routes,
            ...(input.accessLogAddress ? { logs: { default_logger_name: ACCESS_LOGGER } } : {}),
          },
        },
      },
      tls: {
        automation: {
          policies: subjects.length ? [{ subjects, issuers: [issuer] }] : [{ issuers: [issuer] }],
        },
      },
      ...(input.tls.mode === 'internal' ? { pki: { certificate_authorities: { local: { install_trust: false } } } } : {}),
    },
  };
  const id = `fcm-${createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16)}`;
  (body.apps.http.servers.fcm as Record<string, unknown>)['@id'] = id;
  return { id, config: body };
}
