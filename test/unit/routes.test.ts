import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { planCaddyConfig, type CaddyPlanInput } from '../../daemon/core/planners/caddy-config.js';
import type { Proxy } from '../../daemon/core/ports/proxy.js';
import { RouteService } from '../../daemon/core/routes.js';
import { assertGolden } from '../helpers/golden.js';
import { eventually } from '../helpers/wait.js';
import { ALICE, DEFAULTS, memoryService } from '../helpers/memory-service.js';

const base: Omit<CaddyPlanInput, 'vms'> = {
  publicIp: '64.34.93.45', baseDomain: 'sslip.io', tls: { mode: 'internal' }, adminListen: '127.0.0.1:2019', httpPort: 80, httpsPort: 443,
  stripCookieDomain: true,
};
const vms: CaddyPlanInput['vms'] = [
  { name: 'cosmic-nova', state: 'running', ip: '172.16.0.2', port: 8000, domains: ['www.example.com'], pendingDomains: ['squatted.example.org'] },
  { name: 'amber-otter', state: 'stopped', ip: '172.16.0.3', port: 8000, domains: [] },
  { name: 'lunar-fern', state: 'starting', ip: '172.16.0.4', port: 3000, domains: [] },
];

test('caddy config: running VMs proxied, others get a 503 page, hosts get certificates', () => {
  const plan = planCaddyConfig({ ...base, vms });
  assertGolden('caddy-internal.json', plan.config);
  assertGolden('caddy-acme.json', planCaddyConfig({ ...base, vms, tls: { mode: 'acme', email: 'ops@example.com' } }).config);
  const routes = (plan.config as any).apps.http.servers.fcm.routes;
  const byId = Object.fromEntries(routes.filter((r: any) => r['@id']).map((r: any) => [r['@id'], r]));
  assert.deepEqual(byId['vm-cosmic-nova'].match[0].host, ['cosmic-nova.64-34-93-45.sslip.io', 'www.example.com']);
  assert.equal(byId['vm-cosmic-nova'].handle[0].upstreams[0].dial, '172.16.0.2:8000');
  assert.equal(byId['vm-amber-otter'].handle[0].status_code, 503);
  assert.match(byId['vm-amber-otter'].handle[0].body, /amber-otter is stopped.*fcm start amber-otter/s);
  assert.equal(routes.at(-1).handle[0].status_code, 404, 'unknown hosts get a 404, not another VM');
  // Pending (unverified) domains get no route and no certificate: they appear nowhere in the config.
  assert.doesNotMatch(JSON.stringify(plan.config), /squatted\.example\.org/);
  assert.deepEqual((plan.config as any).apps.tls.automation.policies[0].subjects, ['amber-otter.64-34-93-45.sslip.io', 'cosmic-nova.64-34-93-45.sslip.io', 'www.example.com', 'lunar-fern.64-34-93-45.sslip.io']);
  // Cookies: the Domain attribute is dropped when it names the shared zone (see caddy-cookies host test).
  assert.deepEqual(byId['vm-cosmic-nova'].handle[0].headers.response.replace['Set-Cookie'], [{ search_regexp: '(?i)(;[ \\t]*domain[ \\t]*=[ \\t]*\\.?(?:[^;]*\\.)?sslip\\.io\\.?[ \\t]*)+(;|$)', replace: '$2' }]);
  const plain = planCaddyConfig({ ...base, vms, stripCookieDomain: false }).config as any;
  assert.equal(plain.apps.http.servers.fcm.routes[1].handle[0].headers, undefined, 'FCM_STRIP_COOKIE_DOMAIN=false leaves responses alone');
});

test("caddy config with the daemon's API: its own route first (to the loopback listener), a certificate for its name", () => {
  const api = { host: 'fcm.64-34-93-45.sslip.io', upstream: '127.0.0.1:7777' };
  const plan = planCaddyConfig({ ...base, vms, api });
  assertGolden('caddy-api.json', plan.config);
  const routes = (plan.config as any).apps.http.servers.fcm.routes;
  assert.deepEqual(routes[0], {
    '@id': 'fcm-api',
    match: [{ host: ['fcm.64-34-93-45.sslip.io'] }],
    // No flush_interval -1: Caddy would end every proxied request on each config load (caddy-config.ts).
    handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: '127.0.0.1:7777' }] }],
    terminal: true,
  });
  assert.equal((plan.config as any).apps.tls.automation.policies[0].subjects[0], 'fcm.64-34-93-45.sslip.io');
  // A VM that somehow got the API's name still comes after it: the API answers.
  const clash = planCaddyConfig({ ...base, vms: [{ name: 'fcm', state: 'running', ip: '172.16.0.9', port: 8000, domains: [] }], api });
  const r = (clash.config as any).apps.http.servers.fcm.routes;
  assert.deepEqual(r.map((x: any) => x['@id']), ['fcm-api', 'vm-fcm', undefined]);
  assert.notEqual(plan.id, planCaddyConfig({ ...base, vms }).id, 'the API route is part of the id');
  // With no VMs at all, the API still gets its certificate.
  assert.deepEqual((planCaddyConfig({ ...base, vms: [], api }).config as any).apps.tls.automation.policies[0].subjects, ['fcm.64-34-93-45.sslip.io']);
});

test('caddy config: sleeping and starting VMs route to the wake listener with their name in a header; without one, the 503 page', () => {
  const sleepy: CaddyPlanInput['vms'] = [
    { name: 'dozy-fox', state: 'sleeping', ip: '172.16.0.5', port: 8000, domains: ['dozy.example.com'] },
    { name: 'cosmic-nova', state: 'running', ip: '172.16.0.2', port: 8000, domains: [] },
    { name: 'early-bird', state: 'starting', ip: '172.16.0.6', port: 8000, domains: [] },
    { name: 'amber-otter', state: 'stopped', ip: '172.16.0.3', port: 8000, domains: [] },
  ];
  const plan = planCaddyConfig({ ...base, vms: sleepy, wakeDial: '127.0.0.1:7780', accessLogAddress: 'tcp/127.0.0.1:7781' });
  assertGolden('caddy-sleeping.json', plan.config);
  // The access log (idle sleep) goes to the daemon only, as JSON, for every host of the server.
  const logs = (plan.config as any).logging.logs;
  assert.deepEqual(logs.fcm_access.writer, { output: 'net', address: 'tcp/127.0.0.1:7781' });
  assert.deepEqual(logs.default.exclude, ['http.log.access.fcm_access']);
  assert.deepEqual((plan.config as any).apps.http.servers.fcm.logs, { default_logger_name: 'fcm_access' });
  assert.equal((planCaddyConfig({ ...base, vms: sleepy }).config as any).logging, undefined, 'no address, no access log');
  const routes = (plan.config as any).apps.http.servers.fcm.routes;
  const dozy = routes.find((r: any) => r['@id'] === 'vm-dozy-fox');
  assert.deepEqual(dozy.match[0].host, ['dozy-fox.64-34-93-45.sslip.io', 'dozy.example.com'], 'custom domains wake it too');
  assert.equal(dozy.handle[0].handler, 'reverse_proxy');
  assert.deepEqual(dozy.handle[0].upstreams, [{ dial: '127.0.0.1:7780' }], 'never the sleeping guest itself');
  assert.deepEqual(dozy.handle[0].headers.request.set, { 'X-Fcm-Wake': ['dozy-fox'] }, 'set, not add: a client cannot name another VM');
  assert.ok(dozy.handle[0].headers.response.replace['Set-Cookie'], 'cookies are stripped on the wake path too');
  const awake = routes.find((r: any) => r['@id'] === 'vm-cosmic-nova');
  assert.equal(awake.handle[0].upstreams[0].dial, '172.16.0.2:8000');
  // Waking (or booting): held by the daemon until the app answers, not a 503 page.
  const early = routes.find((r: any) => r['@id'] === 'vm-early-bird');
  assert.deepEqual([early.handle[0].upstreams[0].dial, early.handle[0].headers.request.set['X-Fcm-Wake']], ['127.0.0.1:7780', ['early-bird']]);
  assert.equal(routes.find((r: any) => r['@id'] === 'vm-amber-otter').handle[0].status_code, 503, 'a stopped VM is not woken by requests');
  const noWake = planCaddyConfig({ ...base, vms: sleepy }).config as any;
  const page = noWake.apps.http.servers.fcm.routes.find((r: any) => r['@id'] === 'vm-dozy-fox').handle[0];
  assert.equal(page.status_code, 503);
  assert.match(page.body, /dozy-fox is sleeping/);
});

test('caddy config id changes exactly when the config does', () => {
  const a = planCaddyConfig({ ...base, vms });
  assert.equal(planCaddyConfig({ ...base, vms: [...vms].reverse() }).id, a.id, 'order-independent');
  assert.notEqual(planCaddyConfig({ ...base, vms: vms.map((v) => (v.name === 'amber-otter' ? { ...v, state: 'running' as const } : v)) }).id, a.id);
  assert.match(a.id, /^fcm-[0-9a-f]{16}$/);
});

class FakeProxy implements Proxy {
  loaded: Record<string, unknown>[] = [];
  live: string | null = null;
  up = true;
  async load(config: Record<string, unknown>) {
    if (!this.up) throw new Error('connection refused');
    this.loaded.push(config);
    this.live = (config as any).apps.http.servers.fcm['@id'];
  }
  async state(id: string) {
    if (!this.up) return 'unreachable' as const;
    return this.live === id ? ('current' as const) : ('stale' as const);
  }
}

test('route sync follows VM changes, coalesces bursts, and restores a proxy that restarted empty', async () => {
  const h = memoryService();
  const proxy = new FakeProxy();
  const routes = new RouteService({
    store: h.store, proxy, log: pino({ level: 'silent' }), watchIntervalMs: 20,
    plan: (list) => planCaddyConfig({ ...base, vms: list }),
  });
  h.service.onChange(() => void routes.sync());
  routes.start();
  await h.service.create(ALICE, { ...DEFAULTS, name: 'web' });
  await h.service.wait(ALICE, 'web', 'running', 1000);
  await routes.sync();
  const hosts = () => ((proxy.loaded.at(-1) as any).apps.http.servers.fcm.routes as any[]).filter((r) => r['@id']).map((r) => [r['@id'], r.handle[0].handler]);
  assert.deepEqual(hosts(), [['vm-web', 'reverse_proxy']]);
  assert.ok(proxy.loaded.length <= 4, `bursts coalesce (${proxy.loaded.length} loads for create+start)`);
  assert.deepEqual(routes.health(), { ok: true });

  // Caddy goes away: health says so, the API keeps working.
  proxy.up = false;
  proxy.live = null;
  // The watch loop (every 20 ms here) notices; waited for, not slept on: timers fire late under load.
  await eventually('health notices Caddy is gone', async () => routes.health(), (h) => h.ok === false, 5000, 5);
  await h.service.stop(ALICE, 'web', { timeoutMs: 0, force: true });
  // Caddy comes back empty: the watch loop restores the current routes without being asked.
  proxy.up = true;
  await eventually('routes restored', async () => hosts(), (x) => JSON.stringify(x) === JSON.stringify([['vm-web', 'static_response']]), 5000, 5);
  assert.deepEqual(routes.health(), { ok: true });
  await h.service.delete(ALICE, 'web');
  await routes.sync();
  assert.deepEqual(hosts(), []);
  routes.close();
  await h.service.close();
});
