/**
 * The login lock-out attack, end to end with real parts: a real Caddy in
 * front of the daemon's API (the daemon trusts X-Forwarded-For from it
 * only), a real OpenID Connect provider (oidc-provider on loopback), the
 * built `fcm` binary. An attacker at 127.0.0.2 sends 1000 login starts
 * through Caddy — naming the victim's address in X-Forwarded-For, and also
 * straight to the daemon — and the victim at 127.0.0.1 still logs in with
 * `fcm login`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { spec } from '../../api/spec.gen.js';
import { wireAuth } from '../../daemon/auth-wiring.js';
import { parseRate } from '../../daemon/core/rate-limit.js';
import { openDb, type Db } from '../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from '../../daemon/drivers/sqlite/sqlite-user-store.js';
import { DEFAULT_RATES } from '../../daemon/config.js';
import { RequestLimits } from '../../daemon/http/limits.js';
import { operationRoutes } from '../../daemon/http/openapi-routes.js';
import { pendingHandlers } from '../../daemon/http/routes/pending.js';
import { buildServer } from '../../daemon/http/server.js';
import { createLogger } from '../../daemon/log.js';
import { startCaddyFront } from '../helpers/caddy-front.js';
import { onFreePort } from '../helpers/ports.js';
import { startOidcProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { ScriptedBrowser } from '../helpers/scripted-browser.js';
import { BIN, ensureBuilt, tempDir } from './cli-run.js';

let provider: TestProvider;
let app: FastifyInstance;
let db: Db;
let caddy: Awaited<ReturnType<typeof startCaddyFront>>;
let daemonUrl: string;
let login: ReturnType<typeof wireAuth>['login'];

before(async () => {
  ensureBuilt();
  // The public URL (Caddy's) is in the provider's redirect URIs and the daemon's configuration before Caddy
  // starts: Caddy gets a port chosen in advance, and if something took it meanwhile all of it starts again.
  await onFreePort(startAll);
});

async function startAll(caddyPort: number): Promise<void> {
  const started: (() => unknown)[] = [];
  try {
    const publicUrl = `http://127.0.0.1:${caddyPort}`;
    const p = await startOidcProvider({
      redirectUris: [`${publicUrl}/v1/auth/callback`],
      accounts: { alice: { email: 'alice@example.com', email_verified: true, name: 'Alice' } },
    });
    started.push(() => p.close());
    const d = openDb(join(tempDir('fcm-flood-state-'), 'fcm.db'));
    started.push(() => d.close());
    const log = createLogger('warn');
    const auth = wireAuth(
      {
        oidc: { issuer: p.issuer, clientId: p.clientId, clientSecret: p.clientSecret, deviceClientId: null, deviceClientSecret: null, googleHostedDomains: false },
        access: { emails: ['alice@example.com'], domains: [], adminEmails: [] },
        tokenTtlDays: 30,
      },
      { tokens: new SqliteTokenStore(d), users: new SqliteUserStore(d), publicUrl, log },
    );
    // The daemon's default rates; the proxy it trusts is the Caddy in front (it dials from 127.0.0.1).
    // The limits' clock stands still, so the flood happens "at once" however slowly this machine sends it.
    const t0 = Date.now();
    const limits = new RequestLimits(
      { trustedProxies: '127.0.0.1', login: parseRate(DEFAULT_RATES.login), public: parseRate(DEFAULT_RATES.public), user: parseRate(DEFAULT_RATES.user) },
      () => t0,
    );
    const ids = operationRoutes(spec).filter((r) => !r.websocket).map((r) => r.operationId);
    const a = await buildServer({ spec, log, limits, auth: auth.authenticator, validateResponses: true, handlers: { ...auth.handlers, ...pendingHandlers(auth.handlers, ids) }, websocketOperations: ['openConsole', 'runCommand'] });
    started.push(() => a.close());
    const url = await a.listen({ port: 0, host: '127.0.0.1' });
    const c = await startCaddyFront(url, tempDir('fcm-flood-caddy-'), caddyPort);
    [provider, db, login, app, daemonUrl, caddy] = [p, d, auth.login, a, url, c];
  } catch (e) {
    // Stops what this try started (on address-in-use it starts again from scratch).
    for (const stop of started.reverse()) await stop();
    throw e;
  }
}

after(async () => {
  await caddy?.close();
  await app?.close();
  db?.close();
  await provider?.close();
});

/** One POST from a chosen local address (127.0.0.x is all loopback on Linux). */
function post(base: string, path: string, body: unknown, from: string, headers: Record<string, string> = {}): Promise<{ status: number; retryAfter: string | undefined }> {
  const u = new URL(path, base);
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', localAddress: from, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const startBody = () => ({
  redirectUri: 'http://127.0.0.1:4711/cb',
  state: randomBytes(12).toString('hex'),
  codeChallenge: createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url'),
});

test('1000 login starts from one address, through Caddy and straight, naming the victim in X-Forwarded-For: the victim still logs in with fcm login', async () => {
  const statuses: Record<string, number> = {};
  const count = (k: string) => (statuses[k] = (statuses[k] ?? 0) + 1);
  // 900 through Caddy, claiming to be 127.0.0.1 (the victim); Caddy replaces the header of a client it does not trust.
  for (let i = 0; i < 900; i += 30) {
    const rs = await Promise.all(Array.from({ length: 30 }, () => post(caddy.url, '/v1/auth/login', startBody(), '127.0.0.2', { 'x-forwarded-for': '127.0.0.1' })));
    for (const r of rs) {
      count(`caddy ${r.status}`);
      if (r.status === 429) assert.match(r.retryAfter ?? '', /^[1-9]\d*$/);
    }
  }
  // 100 straight to the daemon from another address, X-Forwarded-For naming the victim: not a trusted proxy, ignored.
  for (let i = 0; i < 100; i += 25) {
    const rs = await Promise.all(Array.from({ length: 25 }, () => post(daemonUrl, '/v1/auth/device', {}, '127.0.0.3', { 'x-forwarded-for': '127.0.0.1' })));
    for (const r of rs) count(`direct ${r.status}`);
  }
  // Ten starts per address and minute (FCM_RATE_LOGIN's default), whatever the path.
  assert.deepEqual(statuses, { 'caddy 201': 10, 'caddy 429': 890, 'direct 201': 10, 'direct 429': 90 });
  assert.deepEqual(login.pending('127.0.0.2'), { logins: 10, codes: 0, devices: 0 }, 'the attacker holds at most its own 10');
  assert.deepEqual(login.pending('127.0.0.1'), { logins: 0, codes: 0, devices: 0 }, 'nothing was charged to the victim');

  // The victim logs in through Caddy, as any user would.
  const home = tempDir('fcm-flood-home-');
  const cli = spawn(process.execPath, [BIN, 'login', '--no-browser'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, FCM_HOST: caddy.url }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  cli.stdout.on('data', (d) => (stdout += d));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no login URL:\n${stderr}`)), 30_000);
    cli.stderr.on('data', (d) => {
      stderr += d;
      const m = /^ {2}(http:\/\/\S+\/auth\?\S+)$/m.exec(stderr);
      if (m) {
        clearTimeout(t);
        resolve(m[1]!);
      }
    });
  });
  const last = await new ScriptedBrowser().loginAtProvider(url, 'alice');
  assert.equal(last.status, 200, last.html);
  const code = await new Promise<number | null>((r) => cli.once('close', r));
  assert.equal(code, 0, stderr);
  assert.equal(stdout, `Logged in to ${caddy.url} as alice@example.com (Alice).\n`);
  const saved = JSON.parse(readFileSync(join(home, '.config', 'fcm', 'credentials.json'), 'utf8')) as { hosts: Record<string, { token: string }> };
  assert.match(saved.hosts[caddy.url]?.token ?? '', /^fcm_/, 'the token is saved for the host it came from');
});
