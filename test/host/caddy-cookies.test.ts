/**
 * Cookie isolation, as real Caddy (2.6, Debian) runs the planner's config:
 * an app (a loopback upstream standing in for a VM) answers with Set-Cookie
 * headers that try to reach every other app under the shared base domain;
 * through Caddy their Domain attribute is gone (host-only cookies), while
 * cookies for other domains — a verified custom domain's parent — pass
 * unchanged. The same config with FCM_STRIP_COOKIE_DOMAIN=false is the
 * control: the probe sees the raw headers. (https-routes.test.ts checks the
 * daemon loads this into its Caddy by default.) Loopback only.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { planCaddyConfig } from '../../daemon/core/planners/caddy-config.js';
import { run } from '../../daemon/drivers/proc.js';
import { onFreePorts, serverReady } from '../helpers/ports.js';
import { eventually } from '../helpers/wait.js';

const onPath = (bin: string) =>
  (process.env.PATH ?? '').split(':').some((d) => {
    try {
      accessSync(join(d, bin), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
const skip = ['caddy', 'curl'].map((b) => (onPath(b) ? null : `needs ${b} (daemon/host-setup.sh installs it)`)).find(Boolean) ?? null;

const COOKIES = [
  'a=1; Domain=127-0-0-1.sslip.io; Path=/',
  'b=2; Path=/; domain=.SSLIP.IO',
  'c=3; Domain=example.com; Secure',
  'd=4; Domain=shop.127-0-0-1.sslip.io',
  'e=5; Domain=sslip.io.evil.test; Path=/',
  'f=6; Domain=x.sslip.io; Domain=127-0-0-1.sslip.io; HttpOnly',
  'g=7; Path=/; HttpOnly',
  '__Host-h=8; Secure; Path=/',
  'i=9; Domain=fcm-e2e.test; Path=/',
];

describe('Set-Cookie through real Caddy: no cookie reaches the other apps on the shared base domain', { skip: skip ?? false }, () => {
  let upstream: Server;
  let caddy: ChildProcess | null = null;
  let dir: string;
  let https = 0;
  let admin = 0;

  const startCaddy = async (strip: boolean) => {
    await stopCaddy();
    // The ports are in Caddy's configuration: on one taken meanwhile, Caddy starts again on others.
    await onFreePorts(3, async ([httpsPort, httpPort, adminPort]) => {
      https = httpsPort!;
      admin = adminPort!;
      const plan = planCaddyConfig({
        vms: [{ name: 'app', state: 'running', ip: '127.0.0.1', port: (upstream.address() as AddressInfo).port, domains: ['www.fcm-e2e.test'] }],
        publicIp: '127.0.0.1', baseDomain: 'sslip.io', tls: { mode: 'internal' }, adminListen: `127.0.0.1:${admin}`,
        httpPort: httpPort!, httpsPort: https, stripCookieDomain: strip,
      });
      // The planner listens on all addresses (`:<port>`): here, loopback only.
      const cfg = plan.config as any;
      cfg.apps.http.servers.fcm.listen = [`127.0.0.1:${https}`];
      writeFileSync(join(dir, 'caddy.json'), JSON.stringify(cfg));
      const c = spawn('caddy', ['run', '--config', join(dir, 'caddy.json')], {
        env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      c.stderr!.on('data', (d) => (log += d));
      // Caddy's own word that every listener is bound (or its exit, with the reason).
      await serverReady(c, 'caddy', () => log, /"msg":"serving initial configuration"/);
      caddy = c;
    });
    await eventually('caddy serves', () => curl('app.127-0-0-1.sslip.io'), (r) => r.status === 200, 20_000);
  };
  const stopCaddy = async () => {
    const c = caddy;
    caddy = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    await exited;
  };
  /** Set-Cookie headers of a request for `host` through Caddy. */
  const curl = async (host: string) => {
    const { stdout } = await run('curl', ['-sS', '-k', '--max-time', '10', '-D', '-', '-o', '/dev/null', '--resolve', `${host}:${https}:127.0.0.1`, `https://${host}:${https}/`]);
    const status = Number(/^HTTP\/\S+ (\d+)/.exec(stdout)?.[1] ?? 0);
    const cookies = stdout.split(/\r?\n/).filter((l) => /^set-cookie:/i.test(l)).map((l) => l.replace(/^set-cookie:\s*/i, ''));
    return { status, cookies };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fcm-caddy-cookies-'));
    upstream = createServer((_req, res) => {
      res.setHeader('Set-Cookie', COOKIES);
      res.end('app\n');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  });
  after(async () => {
    await stopCaddy();
    await new Promise((r) => upstream?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  test('control: without stripping the probe sees the app\'s raw cookies', async () => {
    await startCaddy(false);
    assert.deepEqual((await curl('app.127-0-0-1.sslip.io')).cookies, COOKIES);
  });

  test('on the app\'s own host: Domain attributes in the shared zone are removed, everything else is kept', async () => {
    await startCaddy(true);
    const own = await curl('app.127-0-0-1.sslip.io');
    assert.deepEqual(own.cookies, [
      'a=1; Path=/',
      'b=2; Path=/',
      'c=3; Domain=example.com; Secure', // names another site: browsers reject it on this host anyway
      'd=4',
      'e=5; Domain=sslip.io.evil.test; Path=/', // not in the zone: left alone (and rejected by browsers here)
      'f=6; HttpOnly', // adjacent attributes both go: browsers use the last one
      'g=7; Path=/; HttpOnly',
      '__Host-h=8; Secure; Path=/',
      'i=9; Domain=fcm-e2e.test; Path=/',
    ]);
    // On the app's verified custom domain, a cookie for the custom domain's parent is the owner's business.
    const custom = await curl('www.fcm-e2e.test');
    assert.ok(custom.cookies.includes('i=9; Domain=fcm-e2e.test; Path=/'), JSON.stringify(custom.cookies));
    assert.ok(custom.cookies.includes('a=1; Path=/'));
  });
});
