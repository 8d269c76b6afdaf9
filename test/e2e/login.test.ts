/**
 * `fcm login` end to end against a real OpenID Connect provider
 * (oidc-provider on 127.0.0.1): the built `fcm` binary, the daemon's real
 * HTTP layer and auth services over SQLite, and a scripted browser that
 * logs in at the provider's pages. Browser flow (browser opened through
 * xdg-open, and --no-browser), device flow, whoami, logout (the old token
 * then gets 401), refusals (email not allowed, email not verified), single
 * use of codes, and no secret in the database or the daemon's logs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { spec } from '../../api/spec.gen.js';
import { ensureAdminToken } from '../../daemon/admin-token.js';
import { wireAuth } from '../../daemon/auth-wiring.js';
import { openDb, type Db } from '../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from '../../daemon/drivers/sqlite/sqlite-user-store.js';
import { operationRoutes } from '../../daemon/http/openapi-routes.js';
import { pendingHandlers } from '../../daemon/http/routes/pending.js';
import { buildServer } from '../../daemon/http/server.js';
import { createLogger } from '../../daemon/log.js';
import { loadConfig } from '../../daemon/config.js';
import { QuotaService } from '../../daemon/core/quotas.js';
import { SqliteQuotaStore } from '../../daemon/drivers/sqlite/sqlite-quota-store.js';
import { quotaHandlers } from '../../daemon/http/routes/quotas.js';
import { startOidcProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { eventually } from '../helpers/wait.js';
import { onFreePorts } from '../helpers/ports.js';
import { ScriptedBrowser } from '../helpers/scripted-browser.js';
import { BIN, ensureBuilt, tempDir } from './cli-run.js';

const ACCOUNTS = {
  alice: { email: 'alice@example.com', email_verified: true, name: 'Alice' },
  bob: { email: 'bob@example.com', email_verified: true, name: 'Bob' },
  root: { email: 'root@example.com', email_verified: true, name: 'Root' },
  mallory: { email: 'mallory@evil.example', email_verified: true, name: 'Mallory' },
  unverified: { email: 'bob@example.com', email_verified: false, name: 'Not Bob' },
  // For the daemon that applies Google's hosted-domain rule (googleUrl):
  // the Workspace account of corp.example's admin, and two attackers' own accounts —
  // a consumer account holding the admin's address (no hd), and a Kelvin-sign look-alike.
  boss: { email: 'boss@corp.example', email_verified: true, name: 'Boss', hd: 'corp.example' },
  fakeboss: { email: 'boss@corp.example', email_verified: true, name: 'Not Boss' },
  kelvin: { email: '\u212Aate@example.com', email_verified: true, name: 'Not Kate' },
};

let provider: TestProvider;
let app: FastifyInstance;
let db: Db;
let stateDir: string;
let daemonUrl: string;
/** A second daemon over the same provider, with Google's hosted-domain rule on (as for accounts.google.com). */
let googleApp: FastifyInstance;
let googleDb: Db;
let googleUrl: string;
const logLines: string[] = [];
/** Every secret that went by: none may show up in the database or the logs. */
const secrets = { tokens: [] as string[], idTokens: [] as string[], codes: [] as string[] };

before(async () => {
  ensureBuilt();
  // Both daemons' URLs are in the provider's redirect URIs and in their own configuration before they
  // listen: ports chosen in advance, and if something took one meanwhile all of it starts again.
  await onFreePorts(2, async (ports) => {
    const started: (() => unknown)[] = [];
    try {
      await startAll(ports[0]!, ports[1]!, started);
    } catch (e) {
      for (const stop of started.reverse()) await stop();
      throw e;
    }
  });
});

/** Starts the provider and both daemons; `started` gets a stop for each part as it starts. */
async function startAll(port: number, googlePort: number, started: (() => unknown)[]): Promise<void> {
  daemonUrl = `http://127.0.0.1:${port}`;
  googleUrl = `http://127.0.0.1:${googlePort}`;
  provider = await startOidcProvider({ redirectUris: [`${daemonUrl}/v1/auth/callback`, `${googleUrl}/v1/auth/callback`], accounts: ACCOUNTS, deviceIntervalSec: 1 });
  started.push(() => provider.close());
  stateDir = tempDir('fcm-login-state-');
  db = openDb(join(stateDir, 'fcm.db'));
  started.push(() => db.close());
  const tokens = new SqliteTokenStore(db);
  // The daemon's own logger at the most verbose level, captured.
  const log = createLogger('trace', { write: (s: string) => void logLines.push(s) });
  ensureAdminToken(stateDir, tokens, log);
  // Records the ID tokens the provider hands the daemon, to look for them in logs later.
  const spyFetch: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if (String(input instanceof Request ? input.url : input).endsWith('/token')) {
      const j = (await res.clone().json().catch(() => null)) as { id_token?: string } | null;
      if (j?.id_token) secrets.idTokens.push(j.id_token);
    }
    return res;
  };
  const auth = wireAuth(
    {
      oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, deviceClientId: null, deviceClientSecret: null, googleHostedDomains: false },
      access: { emails: ['alice@example.com', 'bob@example.com'], domains: [], adminEmails: ['root@example.com'] },
      tokenTtlDays: 30,
    },
    { tokens, users: new SqliteUserStore(db), publicUrl: daemonUrl, log, fetch: spyFetch },
  );
  const implemented = withQuotas(db, auth);
  const ids = operationRoutes(spec).filter((r) => !r.websocket).map((r) => r.operationId);
  app = await buildServer({
    spec,
    log,
    auth: auth.authenticator,
    validateResponses: true,
    handlers: { ...implemented, ...pendingHandlers(implemented, ids) },
    websocketOperations: ['openConsole', 'runCommand'],
  });
  started.push(() => app.close());
  await app.listen({ port, host: '127.0.0.1' });

  googleDb = openDb(join(tempDir('fcm-login-google-'), 'fcm.db'));
  started.push(() => googleDb.close());
  const google = wireAuth(
    {
      oidc: { issuer: provider.issuer, clientId: provider.clientId, clientSecret: provider.clientSecret, deviceClientId: null, deviceClientSecret: null, googleHostedDomains: true },
      access: { emails: ['kate@example.com'], domains: ['corp.example'], adminEmails: ['boss@corp.example'] },
      tokenTtlDays: 30,
    },
    { tokens: new SqliteTokenStore(googleDb), users: new SqliteUserStore(googleDb), publicUrl: googleUrl, log },
  );
  googleApp = await buildServer({
    spec,
    log,
    auth: google.authenticator,
    validateResponses: true,
    handlers: { ...withQuotas(googleDb, google), ...pendingHandlers(withQuotas(googleDb, google), ids) },
    websocketOperations: ['openConsole', 'runCommand'],
  });
  started.push(() => googleApp.close());
  await googleApp.listen({ port: googlePort, host: '127.0.0.1' });
}

/** The auth handlers, and whoami answering with the caller's quota as in the daemon (no VMs here: usage is zero). */
function withQuotas(d: Db, auth: ReturnType<typeof wireAuth>) {
  const quotas = new QuotaService({
    defaults: loadConfig({}).quotaDefaults,
    overrides: new SqliteQuotaStore(d),
    vms: () => [],
    isAdmin: (id) => id === 'admin' || auth.accounts.principalFor(id)?.admin === true,
    users: new SqliteUserStore(d),
  });
  return { ...auth.handlers, ...quotaHandlers(quotas, auth.accounts) };
}

after(async () => {
  await app?.close();
  await googleApp?.close();
  db?.close();
  googleDb?.close();
  await provider?.close();
});

interface Running {
  stderrMatch(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function runFcm(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => {
    stderr += d;
    for (const w of waiters) w();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      for (const w of waiters) w();
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    done,
    stderrMatch: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`stderr never matched ${re}:\n${stderr}`)), timeoutMs);
        const check = () => {
          const m = re.exec(stderr);
          if (m) {
            clearTimeout(t);
            resolve(m);
          } else if (child.exitCode !== null) {
            clearTimeout(t);
            reject(new Error(`fcm exited ${child.exitCode} before stderr matched ${re}:\n${stderr}\nstdout:\n${stdout}`));
          }
        };
        waiters.push(check);
        check();
      }),
  };
}

const credentialsFile = (home: string) => join(home, '.config', 'fcm', 'credentials.json');

/** A fresh machine for the CLI: its own HOME; `extra` can add PATH entries etc. */
function machine(extra: Record<string, string> = {}): { home: string; env: Record<string, string> } {
  const home = tempDir('fcm-login-home-');
  return { home, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, FCM_HOST: daemonUrl, ...extra } };
}

async function fcmRun(args: string[], env: Record<string, string>) {
  return runFcm(args, env).done;
}

const api = (method: string, path: string, token?: string, body?: unknown) =>
  fetch(`${daemonUrl}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

/** The token fcm login stored for this daemon (and only for it): credentials.json, 0600, the new default host. */
function savedToken(home: string, url = daemonUrl): string {
  const path = credentialsFile(home);
  assert.equal(statSync(path).mode & 0o777, 0o600, 'credentials.json is 0600');
  const store = JSON.parse(readFileSync(path, 'utf8')) as { default?: string; hosts: Record<string, { token: string }> };
  assert.deepEqual(Object.keys(store.hosts), [url], 'stored under the server it came from');
  assert.equal(store.default, url);
  assert.ok(!existsSync(join(home, '.fcm-token')), 'no host-less token file');
  const token = store.hosts[url]!.token;
  assert.match(token, /^fcm_[A-Za-z0-9_-]{43}$/);
  secrets.tokens.push(token);
  return token;
}

test('fcm login opens the browser; the provider login comes back to the loopback with a one-time code; whoami; logout revokes', async () => {
  // A desktop session whose xdg-open is a script that records the URL it was asked to open.
  const bin = tempDir('fcm-login-bin-');
  const opened = join(bin, 'opened.txt');
  writeFileSync(join(bin, 'xdg-open'), '#!/bin/sh\nprintf "%s\\n" "$1" >> "$OPENED"\n');
  chmodSync(join(bin, 'xdg-open'), 0o755);
  const { home, env } = machine({ DISPLAY: ':99', OPENED: opened });
  env.PATH = `${bin}:${env.PATH}`;

  const cli = runFcm(['login'], env);
  const printed = await cli.stderrMatch(/^Opening a browser to log in\. If none opens, visit this URL on this machine:\n {2}(\S+)$/m);
  // The opener runs detached: wait for its whole line. The shell creates the file before
  // printf writes to it, so the file can exist and still be empty.
  const line = await eventually('the URL xdg-open was given', async () => (existsSync(opened) ? readFileSync(opened, 'utf8') : ''), (s) => s.endsWith('\n'), 5_000, 50);
  const authorizeUrl = line.trim();
  assert.equal(authorizeUrl, printed[1], 'the URL given to the browser is also printed');
  assert.ok(authorizeUrl.startsWith(`${provider.issuer}/auth?`), authorizeUrl);
  const q = new URL(authorizeUrl).searchParams;
  assert.equal(q.get('redirect_uri'), `${daemonUrl}/v1/auth/callback`);
  assert.equal(q.get('code_challenge_method'), 'S256');
  assert.ok(q.get('state') && q.get('nonce') && q.get('code_challenge'));

  const browser = new ScriptedBrowser();
  const last = await browser.loginAtProvider(authorizeUrl, 'alice');
  assert.equal(last.status, 200, last.html);
  assert.match(last.html, /You are logged in to fcm as alice@example\.com/);
  assert.match(last.url, /^http:\/\/127\.0\.0\.1:\d+\/callback\?code=flc_[A-Za-z0-9_-]+&state=/, 'the loopback got a one-time code');

  const r = await cli.done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `Logged in to ${daemonUrl} as alice@example.com (Alice).\n`);
  const token = savedToken(home);
  assert.ok(!r.stdout.includes(token) && !r.stderr.includes(token), 'the token is never printed');
  assert.ok(!browser.visited.some((u) => u.includes(token) || /[?&](access_token|id_token|token)=/.test(u)), 'no token in any URL');

  // The codes that passed through the browser are single-use.
  const callback = browser.visited.find((u) => u.startsWith(`${daemonUrl}/v1/auth/callback?`))!;
  const oneTime = new URL(last.url).searchParams.get('code')!;
  secrets.codes.push(new URL(callback).searchParams.get('code')!, oneTime);
  const replay = await api('POST', '/v1/auth/token', undefined, { code: oneTime, codeVerifier: 'x'.repeat(43) });
  assert.equal(replay.status, 400);
  assert.equal(((await replay.json()) as { code: string }).code, 'login_failed');
  const again = await fetch(callback, { redirect: 'manual' });
  assert.equal(again.status, 400, 'the callback state works once');
  assert.equal(((await again.json()) as { code: string }).code, 'login_failed');

  const who = await fcmRun(['whoami'], env);
  assert.equal(who.code, 0, who.stderr);
  assert.match(who.stdout, /^Email:\s+alice@example\.com$/m);
  assert.match(who.stdout, /^Name:\s+Alice$/m);
  assert.match(who.stdout, /^Admin:\s+no$/m);
  const whoJson = JSON.parse((await fcmRun(['whoami', '--json'], env)).stdout) as { user: Record<string, unknown> };
  assert.deepEqual({ ...whoJson.user, id: undefined }, { id: undefined, email: 'alice@example.com', name: 'Alice', admin: false });

  assert.equal((await api('GET', '/v1/auth/whoami', token)).status, 200);
  const out = await fcmRun(['logout'], env);
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, `Logged out of ${daemonUrl}: token revoked and forgotten.\n`);
  assert.deepEqual(JSON.parse(readFileSync(credentialsFile(home), 'utf8')).hosts, {});
  const old = await api('GET', '/v1/auth/whoami', token);
  assert.equal(old.status, 401, 'the revoked token is refused');
  assert.equal((await api('GET', '/v1/vms', token)).status, 401);
  const whoAfter = await fcmRun(['whoami'], env);
  assert.equal(whoAfter.code, 1);
  assert.match(whoAfter.stderr, /fcm login/);
});

test('fcm login --no-browser prints the URL; an FCM_ADMIN_EMAILS user is an admin', async () => {
  const { home, env } = machine({ DISPLAY: ':99' });
  const cli = runFcm(['login', '--no-browser'], env);
  const m = await cli.stderrMatch(/^Open this URL in a browser on this machine to log in:\n {2}(\S+)$/m);
  const last = await new ScriptedBrowser().loginAtProvider(m[1]!, 'root');
  assert.equal(last.status, 200);
  const r = await cli.done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `Logged in to ${daemonUrl} as root@example.com (Root), admin.\n`);
  savedToken(home);
  const who = await fcmRun(['whoami'], env);
  assert.match(who.stdout, /^Admin:\s+yes$/m);
  // fcm tokens (generated from the spec): an admin sees everyone's active tokens, never their values.
  const list = await fcmRun(['tokens'], env);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^ID\s+DESCRIPTION/m);
  assert.match(list.stdout, /fcm login \(browser\) root@example\.com/);
  assert.match(list.stdout, /admin token/);
  assert.ok(!/fcm_[A-Za-z0-9_-]{20}/.test(list.stdout));
});

test('fcm login --device: the user approves the code at the provider; the CLI polls and saves the token', async () => {
  const { home, env } = machine();
  const cli = runFcm(['login', '--device'], env);
  const m = await cli.stderrMatch(/open (http:\/\/\S+) on any device and enter the code:\n\n {4}(\S+)\n/);
  assert.ok(m[1]!.startsWith(provider.issuer), 'the provider\'s own verification page');
  const last = await new ScriptedBrowser().approveDevice(m[1]!, m[2]!, 'bob');
  assert.equal(last.status, 200, last.html);
  const r = await cli.done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `Logged in to ${daemonUrl} as bob@example.com (Bob).\n`);
  const token = savedToken(home);
  const who = (await (await api('GET', '/v1/auth/whoami', token)).json()) as { user: { email: string } };
  assert.equal(who.user.email, 'bob@example.com');
  // Listing shows the device login without its value; revoking it through the API works.
  const list = (await (await api('GET', '/v1/tokens', token)).json()) as { tokens: { id: string; description: string }[] };
  assert.equal(list.tokens.length, 1);
  assert.match(list.tokens[0]!.description, /device/);
  assert.equal((await api('DELETE', `/v1/tokens/${list.tokens[0]!.id}`, token)).status, 204);
  assert.equal((await api('GET', '/v1/auth/whoami', token)).status, 401);
});

test('an email that is not allowed cannot log in (browser or device); nor an unverified one', async () => {
  for (const account of ['mallory', 'unverified']) {
    const { home, env } = machine();
    const cli = runFcm(['login', '--no-browser'], env);
    const m = await cli.stderrMatch(/^ {2}(http:\/\/\S+\/auth\?\S+)$/m);
    const last = await new ScriptedBrowser().loginAtProvider(m[1]!, account);
    assert.equal(last.status, 400);
    assert.match(last.html, /Login refused/);
    const r = await cli.done;
    assert.equal(r.code, 1, `${account} must not get in`);
    assert.match(r.stderr, /^Error: Login denied\n/m);
    assert.match(r.stderr, account === 'mallory' ? /mallory@evil\.example is not allowed/ : /has not verified/);
    assert.ok(!existsSync(credentialsFile(home)) && !existsSync(join(home, '.fcm-token')));
  }
  const { home, env } = machine();
  const cli = runFcm(['login', '--device'], env);
  const m = await cli.stderrMatch(/open (http:\/\/\S+) on any device and enter the code:\n\n {4}(\S+)\n/);
  await new ScriptedBrowser().approveDevice(m[1]!, m[2]!, 'mallory');
  const r = await cli.done;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error: Login denied \[access_denied\]\n.*not allowed/m);
  assert.ok(!existsSync(credentialsFile(home)) && !existsSync(join(home, '.fcm-token')));
  const users = db.prepare('SELECT email FROM users ORDER BY email').all() as { email: string }[];
  assert.ok(!users.some((u) => u.email === 'mallory@evil.example'), 'refused logins create no user');
});

test('attacker ID tokens (Google rules): a consumer account holding the admin\'s corporate address, and a Kelvin-sign look-alike, are refused; the Workspace admin gets in', async () => {
  const attempt = async (account: string) => {
    const { home, env } = machine({ FCM_HOST: googleUrl });
    const cli = runFcm(['login', '--no-browser'], env);
    const m = await cli.stderrMatch(/^ {2}(http:\/\/\S+\/auth\?\S+)$/m);
    const last = await new ScriptedBrowser().loginAtProvider(m[1]!, account);
    return { home, env, last, r: await cli.done };
  };
  for (const [account, why] of [['fakeboss', /boss@corp\.example is not an account managed by corp\.example/], ['kelvin', /not a plain ASCII address/]] as const) {
    const { home, last, r } = await attempt(account);
    assert.equal(last.status, 400, `${account}: ${last.html.slice(0, 300)}`);
    assert.match(last.html, /Login refused/);
    assert.equal(r.code, 1, `${account} must not get in`);
    assert.match(r.stderr, /^Error: Login denied\n/m);
    assert.match(r.stderr, why);
    assert.ok(!existsSync(join(home, '.fcm-token')));
  }
  assert.deepEqual(googleDb.prepare('SELECT email FROM users').all(), [], 'refused logins create no user (and no admin)');

  const { home, env, r } = await attempt('boss');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `Logged in to ${googleUrl} as boss@corp.example (Boss), admin.\n`);
  savedToken(home, googleUrl);
  assert.match((await fcmRun(['whoami'], env)).stdout, /^Admin:\s+yes$/m, 'the hd from the real ID token was kept for later requests');
  assert.deepEqual(googleDb.prepare('SELECT email, hd FROM users').all(), [{ email: 'boss@corp.example', hd: 'corp.example' }]);
});

test('tokens are stored only hashed; no token, ID token, code or client secret in any log line', () => {
  assert.ok(secrets.tokens.length >= 3 && secrets.idTokens.length >= 3 && secrets.codes.length >= 2, JSON.stringify(secrets).slice(0, 200));
  const rows = [db, googleDb].flatMap((d) => d.prepare('SELECT hash, kind FROM tokens').all() as { hash: string; kind: string }[]);
  for (const t of secrets.tokens) assert.ok(rows.some((r) => r.hash === createHash('sha256').update(t).digest('hex')), 'stored as its SHA-256');
  db.pragma('wal_checkpoint(PASSIVE)');
  const files = ['fcm.db', 'fcm.db-wal'].map((f) => join(stateDir, f)).filter(existsSync);
  const bytes = files.map((f) => readFileSync(f).toString('latin1')).join('\n');
  for (const t of secrets.tokens) assert.ok(!bytes.includes(t) && !bytes.includes(t.slice(4)), 'no plaintext token in the database');
  const admin = readFileSync(join(stateDir, '.token'), 'utf8').trim();
  assert.equal(statSync(join(stateDir, '.token')).mode & 0o777, 0o600);
  assert.ok(!bytes.includes(admin));

  const logs = logLines.join('');
  assert.match(logs, /"msg":"login"/, 'the log capture works');
  assert.match(logs, /"msg":"login refused"/);
  assert.match(logs, /\/v1\/auth\/callback"/, 'request URLs are logged, without their query');
  const leaks = [
    ...secrets.tokens.map((s) => ['fcm token', s]),
    ...secrets.idTokens.flatMap((s) => [['ID token', s], ['ID token signature', s.split('.')[2]!]]),
    ...secrets.codes.map((s) => ['code', s]),
    ['client secret', provider.clientSecret],
    ['admin token', admin],
  ] as const;
  for (const [what, s] of leaks) assert.ok(!logs.includes(s), `the daemon logged a ${what}`);
  mkdirSync(stateDir, { recursive: true });
});
