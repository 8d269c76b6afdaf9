/**
 * `fcm login`, `fcm logout`, `fcm whoami`: the commands that are more than
 * one API call.
 *
 * Browser login (default): listen on 127.0.0.1:<random port>, send the
 * daemon our redirect URI, a random state and a PKCE S256 challenge, open
 * the issuer's URL in a browser (or print it), receive the browser back on
 * the loopback listener with a one-time code (never a token), check the
 * state, and redeem the code with the PKCE verifier for an fcm token.
 * Device login (`--device`, for machines without a browser): show the user
 * code and URL, poll until approved. `--with-token` stores a token read from
 * stdin (the admin token, or one from another machine) after the server
 * accepted it.
 * The token goes to the credential store under the host it was issued by
 * (api/credentials.ts, written atomically with mode 0600), which becomes the
 * default host; it is never printed.
 */
import { spawn } from 'node:child_process';
import { timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';
import { statSync, unlinkSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { createFcmClient, type FcmClient, type Schemas } from '../client.js';
import { isLoopbackName } from '../credentials.js';
import { isApiError } from '../errors.js';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import { removeCaCopy, saveStore, storeCaFile, withHost, withoutHost } from './credential-store.js';
import type { InStream } from './io.js';
import type { FlagDef, Parsed } from './parse.js';
import { CliError, EXIT } from './render-error.js';
import { TOKEN_FILE } from './resolve.js';
import { formatQuota } from './quota.js';

type AuthConfig = Schemas['AuthConfig'];
type TokenGrant = Schemas['TokenGrant'];
type Whoami = Schemas['Whoami'];

const DEVICE: FlagDef = { long: 'device', type: 'boolean', description: 'Log in on another device with a code (for machines without a browser)' };
const BROWSER: FlagDef = {
  long: 'browser',
  type: 'boolean',
  negatable: true,
  default: true,
  description: 'Open a browser (--no-browser only prints the URL to open)',
};

const WITH_TOKEN: FlagDef = {
  long: 'with-token',
  type: 'boolean',
  description: 'Read a token from stdin (e.g. the admin token) and store it for this host, instead of logging in with a browser',
};

const ADMIN_TOKEN_HINT = 'use the admin token: ssh root@server cat /var/lib/fcm/.token | fcm login --with-token --host <url>';

export function authCommands(): Command[] {
  return [
    {
      name: 'login',
      group: 'auth',
      summary: 'Log in to an fcm server (OpenID Connect, e.g. Google)',
      description:
        'Opens the server\'s identity provider in a browser on this machine and stores the\n' +
        'resulting fcm token for that server only (credentials.json under ~/.config/fcm, mode 0600);\n' +
        'the server becomes the default for later commands (fcm hosts lists and switches).\n' +
        'Without a browser here: --device. With a token you already have: --with-token < file.\n' +
        'A server with a private CA (FCM_TLS=internal): --ca-file <its ca.pem>, stored with the token.',
      args: [],
      flags: [DEVICE, BROWSER, WITH_TOKEN],
      examples: [
        'fcm login --host https://fcm.64-34-93-45.sslip.io',
        'fcm login --host https://fcm.example.com --device',
        'ssh root@server cat /var/lib/fcm/.token | fcm login --host https://fcm.64-34-93-45.sslip.io --with-token',
        'fcm login --host https://fcm.10-0-0-5.sslip.io --ca-file ca.pem',
      ],
      run: login,
    },
    {
      name: 'logout',
      group: 'auth',
      summary: "Revoke this machine's token for the host and forget it (other hosts stay logged in)",
      args: [],
      flags: [],
      examples: ['fcm logout', 'fcm logout --host https://fcm.example.com'],
      run: logout,
    },
    {
      name: 'whoami',
      group: 'auth',
      summary: 'Show who you are logged in as',
      args: [],
      flags: [],
      examples: ['fcm whoami', 'fcm whoami --json'],
      run: whoami,
    },
  ];
}

async function login(ctx: Ctx, parsed: Parsed): Promise<number> {
  const resolved = ctx.host();
  // A .fcm file can be committed by anyone: logging in (a browser sent to that server's login page,
  // a token handed to it) must be asked for by name.
  if (resolved.source === '.fcm') {
    throw new CliError(`Name the server to log in to`, {
      detail: `The host ${resolved.url} comes from ${ctx.dotfile()?.path ?? '.fcm'}; fcm logs in only to a server you name.`,
      hint: `fcm login --host ${resolved.url}`,
    });
  }
  const host = resolved.url;
  const u = new URL(host);
  if (u.protocol === 'http:' && !isLoopbackName(u.hostname)) {
    ctx.warn(`${host} is plain HTTP: the token crosses the network unencrypted. Use the server's https:// URL (FCM_PUBLIC_URL).`);
  }
  const ca = ctx.ca();
  let grant: { token: string; user: Schemas['User']; expiresAt?: string | null | undefined };
  if (parsed.flags['with-token'] === true) {
    grant = await tokenFromStdin(ctx, host);
  } else {
    const client = ctx.client(false);
    const cfg = (await client.call('get', '/v1/auth/config')) as AuthConfig;
    if (!cfg.enabled) {
      throw new CliError(`Login is not enabled on ${host}`, { detail: 'The server has no OpenID Connect client configured (FCM_OIDC_CLIENT_ID).', hint: ADMIN_TOKEN_HINT });
    }
    let device = parsed.flags.device === true;
    if (!device && !cfg.browser) {
      if (!cfg.device) throw new CliError(`${host} offers no way to log in from the CLI`, { hint: ADMIN_TOKEN_HINT });
      device = true;
    }
    if (device && !cfg.device) {
      throw new CliError(`The identity provider of ${host} does not offer device login`, { hint: 'run fcm login on a machine with a browser' });
    }
    grant = device ? await deviceLogin(ctx, client) : await browserLogin(ctx, client, parsed.flags.browser !== false);
  }
  const loaded = ctx.credentials();
  const previous = loaded.store.hosts[host];
  const caFile = ca ? storeCaFile(ctx.io.env, ctx.io.home, host, ca.path) : previous?.caFile;
  const who = grant.user.email ?? grant.user.id;
  saveStore(
    loaded.path,
    withHost(loaded.store, host, { token: grant.token, user: who, ...(caFile ? { caFile } : {}), savedAt: new Date(ctx.now()).toISOString() }, true),
  );
  ctx.reloadCredentials();
  if (ctx.io.env.FCM_TOKEN?.trim()) ctx.warn('FCM_TOKEN is set and takes precedence over stored logins: unset it to use this one');
  if (ctx.json) {
    ctx.print(`${JSON.stringify({ host, user: grant.user, expiresAt: grant.expiresAt ?? null, credentials: loaded.path, default: true, ...(caFile ? { caFile } : {}) }, null, 2)}\n`);
  } else {
    const name = `${who}${grant.user.name ? ` (${grant.user.name})` : ''}${grant.user.admin ? ', admin' : ''}`;
    ctx.print(`Logged in to ${host} as ${name}.\n`);
    ctx.note(`Token saved to ${loaded.path} for ${host} only${grant.expiresAt ? `; it expires ${grant.expiresAt.slice(0, 10)}` : ''}. ${host} is now the default host (fcm hosts).`);
  }
  return EXIT.ok;
}

/** `--with-token`: a token piped in, accepted by the server (whoami) before it is stored. */
async function tokenFromStdin(ctx: Ctx, host: string): Promise<{ token: string; user: Schemas['User']; expiresAt?: string | null }> {
  if (ctx.io.stdin.isTTY) {
    throw new CliError('--with-token reads the token from stdin, which is a terminal here', { hint: 'pipe it in: fcm login --with-token < token-file' });
  }
  const token = (await readAll(ctx.io.stdin, ctx.io.signal)).trim();
  if (!token || /\s/.test(token)) throw new CliError('--with-token: stdin held no token (one line, no spaces)');
  const f = ctx.fetch();
  const client = createFcmClient({ baseUrl: host, token, userAgent: `fcm-cli/${ctx.version}`, ...(f ? { fetch: f } : {}) });
  try {
    const w = (await client.call('get', '/v1/auth/whoami')) as Whoami;
    return { token, user: w.user, expiresAt: w.token.expiresAt ?? null };
  } catch (e) {
    if (isApiError(e, 'unauthorized')) throw new CliError(`${host} did not accept that token`, { detail: 'Nothing was saved.', hint: 'check that the token is the one of this server (its <state dir>/.token, or a login of yours)' });
    throw e;
  }
}

function readAll(stdin: InStream, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: string | Buffer) => {
      buf += d.toString();
      if (buf.length > 64 * 1024) finish(new CliError('--with-token: stdin is longer than any token'));
    };
    const onEnd = () => finish(null);
    const onAbort = () => finish(signal!.reason ?? Object.assign(new Error('aborted'), { name: 'AbortError' }));
    const finish = (err: unknown) => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(buf);
    };
    if (signal?.aborted) return onAbort();
    stdin.setEncoding?.('utf8');
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    signal?.addEventListener('abort', onAbort, { once: true });
    stdin.resume?.();
  });
}

async function browserLogin(ctx: Ctx, client: FcmClient, open: boolean): Promise<TokenGrant> {
  // PKCE (RFC 7636, S256) and state from openid-client, the library the daemon's OIDC side uses too.
  const verifier = oidc.randomPKCECodeVerifier();
  const challenge = await oidc.calculatePKCECodeChallenge(verifier);
  const state = oidc.randomState();
  const listener = await listenLoopback(state);
  try {
    const started = (await client.call('post', '/v1/auth/login', {
      body: { redirectUri: listener.redirectUri, state, codeChallenge: challenge, codeChallengeMethod: 'S256' },
    })) as Schemas['LoginStarted'];
    const opened = open && openBrowser(started.authorizeUrl, ctx.io.env);
    ctx.io.stderr.write(
      opened
        ? `Opening a browser to log in. If none opens, visit this URL on this machine:\n  ${started.authorizeUrl}\n`
        : `Open this URL in a browser on this machine to log in:\n  ${started.authorizeUrl}\n`,
    );
    ctx.note(`Waiting for the browser to come back to ${listener.redirectUri} (no browser here? fcm login --device)`);
    const timeoutMs = Math.max(1000, Date.parse(started.expiresAt) - ctx.now());
    const cb = await listener.next(timeoutMs, ctx.io.signal);
    try {
      const grant = (await client.call('post', '/v1/auth/token', { body: { code: cb.code, codeVerifier: verifier } })) as TokenGrant;
      cb.reply(200, 'Logged in', `You are logged in to fcm as ${grant.user.email ?? grant.user.id}. You can close this tab.`);
      return grant;
    } catch (e) {
      cb.reply(400, 'Login failed', 'fcm could not finish the login; see the terminal.');
      throw e;
    }
  } finally {
    listener.close();
  }
}

interface Callback {
  code: string;
  reply(status: number, title: string, text: string): void;
}

/**
 * A one-shot HTTP listener on 127.0.0.1 (never 0.0.0.0): the first request to
 * /callback with our state settles it. Requests with another state are
 * answered 400 and ignored (something else on this machine poking the port).
 */
async function listenLoopback(state: string): Promise<{ redirectUri: string; next(timeoutMs: number, signal?: AbortSignal): Promise<Callback>; close(): void }> {
  let settle: ((cb: Callback) => void) | null = null;
  let fail: ((e: unknown) => void) | null = null;
  let done = false;
  const got = new Promise<Callback>((res, rej) => {
    settle = res;
    fail = rej;
  });
  got.catch(() => {});
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/callback') return page(res, 404, 'Not found', 'This is fcm login\'s listener; nothing here.');
    if (done) return page(res, 410, 'Already done', 'This login has already finished. You can close this tab.');
    const q = url.searchParams;
    if (!sameString(q.get('state') ?? '', state)) return page(res, 400, 'Wrong login', 'This is not the login fcm is waiting for.');
    done = true;
    const error = q.get('error');
    const code = q.get('code');
    if (error || !code) {
      const desc = clean(q.get('error_description') ?? '') || 'the server sent no code';
      page(res, 400, 'Login failed', desc);
      fail!(new CliError(error === 'access_denied' ? 'Login denied' : 'Login failed', { detail: desc, hint: error === 'access_denied' ? "ask the server's admin to allow your email address" : 'run fcm login again' }));
      return;
    }
    settle!({ code, reply: (status, title, text) => page(res, status, title, text) });
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    next: (timeoutMs, signal) =>
      new Promise<Callback>((res, rej) => {
        const t = setTimeout(() => rej(new CliError('Login timed out', { detail: 'The browser did not come back in time.', hint: 'run fcm login again (or fcm login --device)' })), timeoutMs);
        const onAbort = () => rej(signal!.reason ?? Object.assign(new Error('aborted'), { name: 'AbortError' }));
        signal?.addEventListener('abort', onAbort, { once: true });
        got.then(res, rej).finally(() => {
          clearTimeout(t);
          signal?.removeEventListener('abort', onAbort);
        });
      }),
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

function page(res: ServerResponse, status: number, title: string, text: string): void {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
  res.end(`<!doctype html><meta charset="utf-8"><title>fcm: ${esc(title)}</title><h1>${esc(title)}</h1><p>${esc(text)}</p>\n`);
}

async function deviceLogin(ctx: Ctx, client: FcmClient): Promise<TokenGrant> {
  const d = (await client.call('post', '/v1/auth/device')) as Schemas['DeviceLogin'];
  ctx.io.stderr.write(
    `To log in, open ${d.verificationUri} on any device and enter the code:\n\n    ${ctx.err.bold(d.userCode)}\n\n` +
      (d.verificationUriComplete ? `(or open ${d.verificationUriComplete})\n` : ''),
  );
  ctx.note(`Waiting for approval (the code expires in ${Math.round(d.expiresIn / 60)} minutes)…`);
  let intervalMs = Math.max(1, d.interval) * 1000;
  const deadline = ctx.now() + d.expiresIn * 1000;
  for (;;) {
    await sleep(intervalMs, ctx.io.signal);
    try {
      return (await client.call('post', '/v1/auth/device/token', { body: { deviceCode: d.deviceCode } })) as TokenGrant;
    } catch (e) {
      if (isApiError(e, 'slow_down')) intervalMs += 5000;
      else if (!isApiError(e, 'authorization_pending')) throw e;
      if (ctx.now() > deadline) throw new CliError('Login timed out', { detail: 'The code was not approved in time.', hint: 'run fcm login --device again' });
    }
  }
}

async function logout(ctx: Ctx): Promise<number> {
  const host = ctx.host().url;
  const t = ctx.token();
  if (!t.token) {
    ctx.print(`Not logged in to ${host}.\n`);
    return EXIT.ok;
  }
  let revoked = true;
  try {
    await ctx.client().call('post', '/v1/auth/logout');
  } catch (e) {
    // Already invalid: nothing to revoke. The admin token: the server keeps it (only its file rotates it).
    if (isApiError(e, 'unauthorized')) revoked = false;
    else if (isApiError(e, 'forbidden')) {
      revoked = false;
      ctx.note('This is the admin token: it stays valid on the server (delete <state dir>/.token there and restart the daemon to rotate it).');
    } else if (!(t.source === 'credentials' && isApiError(e, 'unreachable'))) throw e;
    else {
      revoked = false;
      ctx.note(`${host} cannot be reached: the token was not revoked there, only forgotten here.`);
    }
  }
  if (t.source === 'credentials') {
    const loaded = ctx.credentials();
    const was = loaded.store.hosts[host];
    const next = withoutHost(loaded.store, host);
    saveStore(loaded.path, next);
    removeCaCopy(ctx.io.env, ctx.io.home, was?.caFile);
    ctx.print(revoked ? `Logged out of ${host}: token revoked and forgotten.\n` : `Logged out of ${host}: token forgotten.\n`);
    const left = Object.keys(next.hosts);
    if (loaded.store.default === host && left.length) ctx.note(`No default host now; still logged in to ${left.join(', ')} (fcm hosts use <host>).`);
  } else if (t.source === '~/.fcm-token') {
    removeToken(ctx.io.home);
    ctx.print(revoked ? `Logged out of ${host}: token revoked and ~/${TOKEN_FILE} deleted.\n` : `Deleted ~/${TOKEN_FILE}.\n`);
  } else {
    ctx.print(revoked ? `Logged out of ${host}: token revoked.\n` : 'The token was not valid anymore.\n');
    ctx.note('The token came from FCM_TOKEN: unset it in your environment.');
  }
  return EXIT.ok;
}

async function whoami(ctx: Ctx): Promise<number> {
  const r = (await ctx.client().call('get', '/v1/auth/whoami')) as Whoami;
  if (ctx.json) {
    ctx.print(`${JSON.stringify(r, null, 2)}\n`);
    return EXIT.ok;
  }
  const rows: [string, string][] = [
    ['Email', r.user.email ?? '-'],
    ['Name', r.user.name ?? '-'],
    ['Admin', r.user.admin ? 'yes' : 'no'],
    ['Server', ctx.host().url],
    ['Token', `${r.token.id}${r.token.expiresAt ? `, expires ${r.token.expiresAt.slice(0, 10)}` : ''}`],
  ];
  ctx.print(rows.map(([k, v]) => `${ctx.out.bold(`${k}:`.padEnd(8))} ${v}\n`).join(''));
  ctx.print(formatQuota(r.quota, ctx.out));
  return EXIT.ok;
}

export function removeToken(home: string): void {
  try {
    unlinkSync(join(home, TOKEN_FILE));
  } catch {
    /* already gone */
  }
}

/**
 * Opens the URL with $BROWSER, `open` (macOS) or `xdg-open` (a Linux
 * desktop session); false when there is none, so the caller prints the URL.
 * argv only, no shell: the URL is never interpreted.
 */
export function openBrowser(url: string, env: Record<string, string | undefined>): boolean {
  let cmd: string | null = null;
  if (env.BROWSER?.trim()) cmd = env.BROWSER.trim();
  else if (process.platform === 'darwin') cmd = 'open';
  else if (process.platform === 'linux' && (env.DISPLAY || env.WAYLAND_DISPLAY)) cmd = 'xdg-open';
  if (!cmd) return false;
  const bin = cmd.includes('/') ? cmd : findInPath(cmd, env.PATH ?? '');
  if (!bin) return false;
  try {
    const child = spawn(bin, [url], { detached: true, stdio: 'ignore', env: env as NodeJS.ProcessEnv });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

function findInPath(cmd: string, path: string): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      /* not here */
    }
  }
  return null;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) return rej(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(signal!.reason ?? Object.assign(new Error('aborted'), { name: 'AbortError' }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Text from the redirect, shown on a terminal: no control characters, bounded. */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f-\x9f]/g, ' ').slice(0, 300).trim();
}
