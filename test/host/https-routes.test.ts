/**
 * Issue 4's "done means" with a real Caddy (tls internal) in the test's
 * network namespace: HTTPS reaches the app in a real VM, stopped VMs get a
 * 503 page, deleted VMs lose their route, and a Caddy that restarts empty
 * gets every route back from the daemon without a daemon restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { dnsSkipReason, startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { eventually } from '../helpers/wait.js';
import { caddyRoutes } from '../reliability/lib/host-checks.js';

const skip = hostSkipReason();


describe('HTTPS routes through a real Caddy', { skip: skip ?? dnsSkipReason() ?? false }, () => {
  let h: HostHarness;
  let ca: string;
  let dns: DnsServer;
  before(async () => {
    // Custom domains are verified against a real DNS server (dnsmasq) on the namespace's loopback.
    h = await startHostHarness({ caddy: true, env: { FCM_DNS_RESOLVERS: '127.0.0.1:5353' } });
    dns = await startDnsServer(h.ns, { port: 5353 });
  });
  after(async () => {
    await dns?.close();
    await h?.close();
  });

  /** Caddy's live config, read from its admin API inside the namespace. */
  const caddyConfig = async () => (await h.exec('curl', ['-sS', '--fail', 'http://127.0.0.1:2019/config/'])).stdout;

  test('the VM URL serves the app over HTTPS; HTTP redirects; a custom domain routes once verified through DNS', async () => {
    const c = await h.api('POST', '/v1/vms', { name: 'webby', memoryMib: 256, swapMib: 0, domains: ['www.example.test'] });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    const url: string = c.body.url;
    assert.equal(url, `https://webby.${h.daemonIp.replace(/\./g, '-')}.sslip.io`, 'the url field is the real URL');
    assert.equal((await h.api('GET', '/v1/vms/webby/wait?state=running&timeout=240')).status, 200);
    ca = await h.caddy.rootCaFile();
    const page = await eventually('app over https', () => h.curlVia(`${url}/`, { cacert: ca }), (r) => r.status === 200);
    assert.match(page.body, /webby/);
    const redirect = await h.curlVia(`${url.replace('https:', 'http:')}/some/path`);
    assert.equal(redirect.status, 308);
    // Cookies of apps on the shared base domain are made host-only (FCM_STRIP_COOKIE_DOMAIN, on by default).
    const live = JSON.parse(await caddyConfig());
    const route = live.apps.http.servers.fcm.routes.find((r: { '@id'?: string }) => r['@id'] === 'vm-webby');
    assert.equal(route.handle[0].headers.response.replace['Set-Cookie'][0].replace, '$2');

    // The custom domain is only claimed: no route, no certificate, nowhere in Caddy's config.
    assert.deepEqual(c.body.pendingDomains, ['www.example.test']);
    assert.doesNotMatch(await caddyConfig(), /www\.example\.test/);
    await assert.rejects(h.curlVia('https://www.example.test/', { cacert: ca }), /SSL|TLS|alert|error/i, 'no certificate for a pending domain');
    // Verification looks the TXT record up through the real DNS server: none yet, then a wrong one, then the owner's.
    const none = await h.api('POST', '/v1/vms/webby/domains/www.example.test/verify');
    assert.deepEqual([none.status, none.body.code], [422, 'domain_not_verified']);
    assert.match(none.body.detail, /No TXT record at _fcm-challenge\.www\.example\.test/);
    const record = (await h.api('GET', '/v1/vms/webby/domains')).body.domains[0];
    assert.deepEqual([record.status, record.recordType, record.recordName], ['pending', 'TXT', '_fcm-challenge.www.example.test']);
    await dns.setTxt({ '_fcm-challenge.www.example.test': ['fcm-someone-elses-token'] });
    const wrong = await h.api('POST', '/v1/vms/webby/domains/www.example.test/verify');
    assert.match(wrong.body.detail, /has 1 value\(s\), none of them this VM owner's token/);
    await dns.setTxt({ '_fcm-challenge.www.example.test': ['fcm-someone-elses-token', record.recordValue] });
    const verified = await h.api('POST', '/v1/vms/webby/domains/www.example.test/verify');
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    assert.equal(verified.body.status, 'verified');
    const custom = await eventually('custom domain', () => h.curlVia('https://www.example.test/', { cacert: ca }), (r) => r.status === 200);
    assert.match(custom.body, /webby/);
    assert.deepEqual((await h.api('GET', '/v1/vms/webby')).body.pendingDomains, []);
    const health = await h.api('GET', '/v1/health', undefined, null);
    assert.deepEqual(health.body.checks.caddy, { ok: true });
  });

  test('stop → 503 page naming the fix; start → the app again', async () => {
    const url = `https://webby.${h.daemonIp.replace(/\./g, '-')}.sslip.io/`;
    assert.equal((await h.api('POST', '/v1/vms/webby/stop', { timeoutMs: 20_000 })).body.state, 'stopped');
    const stopped = await eventually('503 page', () => h.curlVia(url, { cacert: ca }), (r) => r.status === 503);
    assert.match(stopped.body, /webby is stopped/);
    assert.match(stopped.body, /fcm start webby/);
    await h.api('POST', '/v1/vms/webby/start');
    assert.equal((await h.api('GET', '/v1/vms/webby/wait?state=running&timeout=240')).status, 200);
    const back = await eventually('app after start', () => h.curlVia(url, { cacert: ca }), (r) => r.status === 200);
    assert.match(back.body, /webby/);
  });

  test('Caddy killed and restarted empty: the daemon restores every route by itself', async () => {
    const url = `https://webby.${h.daemonIp.replace(/\./g, '-')}.sslip.io/`;
    await h.caddy.kill();
    const down = await eventually('health notices', () => h.api('GET', '/v1/health', undefined, null), (r) => r.body.checks.caddy.ok === false, 15_000);
    assert.equal(down.body.status, 'degraded');
    assert.equal((await h.api('GET', '/v1/vms')).status, 200, 'the API keeps working without Caddy');
    await h.caddy.start();
    ca = await h.caddy.rootCaFile(); // a fresh Caddy without storage would mint a new CA; this one kept its data dir
    const back = await eventually('routes restored', () => h.curlVia(url, { cacert: ca }), (r) => r.status === 200, 20_000);
    assert.match(back.body, /webby/);
    const up = await h.api('GET', '/v1/health', undefined, null);
    assert.deepEqual(up.body.checks.caddy, { ok: true });
  });

  test('bad and conflicting domains are refused with problem codes; nothing is created', async () => {
    const cases: [unknown, number, string][] = [
      [{ name: 'bad1', domains: ['not a host'] }, 400, 'validation_failed'],
      [{ name: 'bad2', domains: ['1.2.3.4'] }, 400, 'validation_failed'],
      [{ name: 'bad3', domains: ['*.example.test'] }, 400, 'validation_failed'],
      [{ name: 'bad4', domains: ['UPPER.example.test'] }, 400, 'validation_failed'],
      [{ name: 'bad5', domains: ['www.example.test'] }, 409, 'domain_taken'],
      [{ name: 'bad6', domains: [`webby.${h.daemonIp.replace(/\./g, '-')}.sslip.io`] }, 400, 'validation_failed'],
      [{ name: 'bad7', domains: ['sslip.io'] }, 400, 'validation_failed'],
    ];
    for (const [body, status, code] of cases) {
      const r = await h.api('POST', '/v1/vms', body);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, code);
    }
    const upd = await h.api('PATCH', '/v1/vms/webby', { domains: ['ok.example.test', 'bad host'] });
    assert.equal(upd.body.code, 'validation_failed');
    assert.deepEqual((await h.api('GET', '/v1/vms')).body.vms.map((v: { name: string }) => v.name), ['webby']);
  });

  test('delete → the route is gone: Caddy, still up, no longer routes the name', async () => {
    const url = `https://webby.${h.daemonIp.replace(/\./g, '-')}.sslip.io/`;
    assert.deepEqual(await caddyRoutes(h), ['vm-webby'], 'the route is there before the delete');
    assert.equal((await h.api('DELETE', '/v1/vms/webby')).status, 204);
    // Read from Caddy's live config: only an answer without the route counts (null = Caddy did not answer).
    await eventually('route removed from Caddy', () => caddyRoutes(h), (r) => Array.isArray(r) && r.length === 0);
    // And a client sees it: Caddy refuses the name at the TLS handshake (no certificate policy for it
    // any more) or answers its catch-all 404. A refused connection or a timeout would be a dead Caddy.
    const r = await h.curlVia(url, { cacert: ca }).then(
      (res) => `HTTP ${res.status}: ${res.body}`,
      (e: Error) => e.message,
    );
    assert.match(r, /curl: \(35\) .*tlsv1 alert internal error|^HTTP 404: No app is deployed at this address\.$/, r);
  });
});
