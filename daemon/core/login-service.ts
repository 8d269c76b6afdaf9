/**
 * Logging in with OpenID Connect, for the CLI.
 *
 * Browser: the CLI listens on 127.0.0.1 and sends its redirect URI, a state
 * and its own PKCE challenge (startLogin). The daemon is the OIDC client: it
 * keeps its own state, nonce and PKCE verifier for the issuer and answers
 * with the issuer's authorization URL. The issuer redirects the browser to
 * the daemon's callback; the daemon redeems the code, verifies the ID token
 * and the allowlist, and redirects the browser to the CLI's loopback URI
 * with a one-time code (never a token). The CLI redeems that code with its
 * PKCE verifier (exchange) for an fcm token.
 *
 * Dashboard (startSessionLogin): the browser is the client. The daemon
 * keeps state, nonce and verifier as above, plus the hash of a binding
 * secret the HTTP layer puts in a short-lived HttpOnly cookie. The callback
 * only mints a session when the browser coming back holds that cookie: a
 * callback link opened in another browser (login CSRF: being signed in as
 * the attacker) gets nothing. It then answers with the token for the
 * session cookie and `/dashboard/` as the place to go; never a token in a URL.
 *
 * Device: the daemon starts the issuer's device authorization and hands the
 * CLI the user code and its own device code (the issuer's device code never
 * leaves the daemon); each CLI poll becomes one poll of the issuer.
 *
 * Every secret here (states, codes, device codes) is 32 random bytes, kept
 * only as SHA-256 in memory, single-use and short-lived; comparisons of
 * secrets are constant-time. A daemon restart forgets logins in progress.
 *
 * Starting a login needs no token, so the tables of logins in progress are
 * fair (rate-limit.ts FairTable): each belongs to the client address that
 * started it, an address holds at most `pendingPerAddress` (its oldest give
 * way to its newest), and only a full table takes from the address holding
 * the most. Nobody can fill the tables for everyone; the HTTP layer also
 * limits how often one address may start a login (limits.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { LoginPolicy } from './access.js';
import type { AccountService, TokenGrant } from './accounts.js';
import { FcmError } from './errors.js';
import { sameString } from './id-token.js';
import { FairTable } from './rate-limit.js';
import type { IdTokenClaims, IdentityProvider } from './ports/identity.js';
import type { UserStore } from './ports/user-store.js';

export interface LoginDeps {
  /** null: login is not configured (only the admin token works). */
  idp: IdentityProvider | null;
  issuer: string | null;
  /** `<publicUrl>/v1/auth/callback`: registered with the issuer as the redirect URI. */
  callbackUrl: string;
  policy: LoginPolicy;
  users: UserStore;
  accounts: AccountService;
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  now?: () => number;
  limits?: Partial<typeof DEFAULT_LIMITS>;
}

export const DEFAULT_LIMITS = {
  /** From startLogin to the issuer's redirect back. */
  loginTtlMs: 10 * 60_000,
  /** The one-time code the CLI redeems (must be ≤ 2 minutes). */
  codeTtlMs: 60_000,
  /** Device logins never outlive this, whatever the issuer says. */
  deviceTtlMs: 15 * 60_000,
  /** Logins in progress one client address may have (per table: browser logins, codes, device logins). */
  pendingPerAddress: 10,
  /** Logins in progress in all (per table); only reached with at least max / pendingPerAddress addresses. */
  maxPending: 20_000,
};

/** The loopback URI shape from StartLoginRequest, checked again here: the daemon must not redirect anywhere else. */
const LOOPBACK = /^http:\/\/127\.0\.0\.1:([0-9]{1,5})\/[A-Za-z0-9/_-]*$/;

interface PendingLogin {
  /** The client address that started it (owns its one-time code too). */
  owner: string;
  /** cli: back to the CLI's loopback listener; session: the dashboard in this browser. */
  kind: 'cli' | 'session';
  /** session: SHA-256 of the binding secret in the browser's cookie. */
  bindingHash?: string;
  cliRedirect: string;
  cliState: string;
  cliChallenge: string;
  nonce: string;
  verifier: string;
  expiresAt: number;
}

interface OneTimeCode {
  userId: string;
  cliChallenge: string;
  expiresAt: number;
}

interface DeviceSession {
  issuerCode: string;
  intervalMs: number;
  nextPollAt: number;
  expiresAt: number;
  busy: boolean;
}

/** Where a dashboard login lands (a fragment: never sent to a server, never logged). */
export const DASHBOARD_PATH = '/dashboard/';

/** What the callback tells the HTTP layer: where to send the browser, and for a dashboard login the session's token. */
export interface CallbackResult {
  location: string;
  session?: TokenGrant;
  /** A dashboard login ended (either way): its binding cookie can go. */
  clearBinding?: boolean;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('base64url');
const secret = () => randomBytes(32).toString('base64url');

/** Entries keyed by SHA-256 of their secret, each owned by the client address that started it. */
class SecretMap<T extends { expiresAt: number }> {
  private readonly t: FairTable<T>;
  constructor(perOwner: number, max: number) {
    this.t = new FairTable<T>({ perOwner, max });
  }
  put(owner: string, key: string, v: T, now: number): void {
    this.t.put(owner, sha256(key), v, now);
  }
  get(key: string): T | undefined {
    return this.t.get(sha256(key));
  }
  /** Single use: found entries are removed. */
  take(key: string): T | undefined {
    return this.t.take(sha256(key));
  }
  delete(key: string): void {
    this.t.delete(sha256(key));
  }
  get size(): number {
    return this.t.size;
  }
  sizeOf(owner: string): number {
    return this.t.sizeOf(owner);
  }
}

export class LoginService {
  private readonly now: () => number;
  private readonly lim: typeof DEFAULT_LIMITS;
  private readonly logins: SecretMap<PendingLogin>;
  private readonly codes: SecretMap<OneTimeCode>;
  private readonly devices: SecretMap<DeviceSession>;

  constructor(private readonly d: LoginDeps) {
    this.now = d.now ?? Date.now;
    this.lim = { ...DEFAULT_LIMITS, ...d.limits };
    if (this.lim.codeTtlMs > 120_000) throw new Error('one-time login codes must live at most 2 minutes');
    this.logins = new SecretMap(this.lim.pendingPerAddress, this.lim.maxPending);
    this.codes = new SecretMap(this.lim.pendingPerAddress, this.lim.maxPending);
    this.devices = new SecretMap(this.lim.pendingPerAddress, this.lim.maxPending);
  }

  async config(): Promise<{ enabled: boolean; issuer: string | null; browser: boolean; device: boolean }> {
    if (!this.d.idp) return { enabled: false, issuer: null, browser: false, device: false };
    let caps = { browser: true, device: false };
    try {
      caps = await this.d.idp.capabilities();
    } catch (e) {
      this.d.log.warn({ issuer: this.d.issuer, err: (e as Error).message }, 'OIDC discovery failed');
    }
    return { enabled: true, issuer: this.d.issuer, ...caps };
  }

  /** `client`: the caller's address (HandlerContext.client), which owns this login in progress. */
  async startLogin(req: { redirectUri: string; state: string; codeChallenge: string; codeChallengeMethod?: string }, client: string): Promise<{ authorizeUrl: string; expiresAt: string }> {
    const idp = this.idp();
    const m = LOOPBACK.exec(req.redirectUri);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new FcmError('validation_failed', 'redirectUri must be http://127.0.0.1:<port>/<path>.');
    if ((req.codeChallengeMethod ?? 'S256') !== 'S256') throw new FcmError('validation_failed', 'codeChallengeMethod must be S256.');
    const now = this.now();
    const state = secret();
    const nonce = secret();
    const verifier = secret();
    const authorizeUrl = await idp.authorizationUrl({ redirectUri: this.d.callbackUrl, state, nonce, codeChallenge: sha256(verifier) });
    const expiresAt = now + this.lim.loginTtlMs;
    this.logins.put(client, state, { owner: client, kind: 'cli', cliRedirect: req.redirectUri, cliState: req.state, cliChallenge: req.codeChallenge, nonce, verifier, expiresAt }, now);
    return { authorizeUrl, expiresAt: new Date(expiresAt).toISOString() };
  }

  /**
   * A dashboard login: the browser goes to the returned URL; `binding` goes
   * into an HttpOnly cookie that the callback must see again.
   */
  async startSessionLogin(client: string): Promise<{ authorizeUrl: string; expiresAt: string; binding: string }> {
    const idp = this.idp();
    const now = this.now();
    const state = secret();
    const nonce = secret();
    const verifier = secret();
    const binding = secret();
    const authorizeUrl = await idp.authorizationUrl({ redirectUri: this.d.callbackUrl, state, nonce, codeChallenge: sha256(verifier) });
    const expiresAt = now + this.lim.loginTtlMs;
    this.logins.put(client, state, { owner: client, kind: 'session', bindingHash: sha256(binding), cliRedirect: '', cliState: '', cliChallenge: '', nonce, verifier, expiresAt }, now);
    return { authorizeUrl, expiresAt: new Date(expiresAt).toISOString(), binding };
  }

  /**
   * The issuer sent the browser back: where to redirect it. CLI logins: the
   * CLI's loopback URI, once the state is known. Dashboard logins (with the
   * browser's binding cookie, finishLogin): `/dashboard/` and the session token.
   */
  async callback(q: { code?: string; state?: string; error?: string; iss?: string }): Promise<string> {
    return (await this.finishLogin(q)).location;
  }

  /** callback, for the HTTP layer: with the browser's binding cookie, and the session a dashboard login made. */
  async finishLogin(q: { code?: string; state?: string; error?: string; iss?: string }, binding?: string): Promise<CallbackResult> {
    const idp = this.idp();
    const p = q.state ? this.logins.take(q.state) : undefined;
    if (!p || p.expiresAt <= this.now()) {
      throw new FcmError('login_failed', 'This login is unknown or has expired (each login link works once). Run fcm login again.');
    }
    if (p.kind === 'session') return this.sessionCallback(idp, p, q, binding);
    return { location: await this.cliCallback(idp, p, q) };
  }

  private async sessionCallback(idp: IdentityProvider, p: PendingLogin, q: { code?: string; error?: string; iss?: string }, binding?: string): Promise<CallbackResult> {
    const fail = (code: string, why: string): CallbackResult => ({ location: `${DASHBOARD_PATH}#${new URLSearchParams({ error: code, error_description: why })}`, clearBinding: true });
    // Login CSRF: only the browser that started this login may finish it.
    if (!binding || !p.bindingHash || !sameString(sha256(binding), p.bindingHash)) {
      this.d.log.warn({}, 'dashboard login: the callback came without this login\'s binding cookie');
      return fail('login_failed', 'This login was started in another browser (or its cookie is gone). Sign in again.');
    }
    if (q.iss !== undefined && q.iss !== this.d.issuer) {
      this.d.log.warn({ iss: q.iss.slice(0, 200) }, 'login: the authorization response names another issuer');
      return fail('login_failed', 'The authorization response came from another issuer.');
    }
    if (q.error || !q.code) {
      const said = q.error && /^[a-z_]{1,64}$/.test(q.error) ? q.error : 'no code';
      return fail(said === 'access_denied' ? 'access_denied' : 'login_failed', `The identity provider said: ${said}`);
    }
    let claims: IdTokenClaims;
    try {
      claims = await idp.redeemCode({ code: q.code, codeVerifier: p.verifier, redirectUri: this.d.callbackUrl, nonce: p.nonce });
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message }, 'login: code redemption or ID token verification failed');
      return fail('login_failed', "The identity provider's answer could not be verified.");
    }
    const admitted = this.admit(claims, 'dashboard');
    if ('denied' in admitted) return fail('access_denied', admitted.denied);
    return { location: DASHBOARD_PATH, session: this.d.accounts.mint(admitted.user, 'dashboard'), clearBinding: true };
  }

  private async cliCallback(idp: IdentityProvider, p: PendingLogin, q: { code?: string; error?: string; iss?: string }): Promise<string> {
    const back = (params: Record<string, string>) => {
      const u = new URL(p.cliRedirect);
      for (const [k, v] of Object.entries({ ...params, state: p.cliState })) u.searchParams.set(k, v);
      return u.toString();
    };
    // RFC 9207: a response that names another issuer is a mix-up attack (or a misconfiguration).
    if (q.iss !== undefined && q.iss !== this.d.issuer) {
      this.d.log.warn({ iss: q.iss.slice(0, 200) }, 'login: the authorization response names another issuer');
      return back({ error: 'login_failed', error_description: 'The authorization response came from another issuer.' });
    }
    if (q.error || !q.code) {
      const said = q.error && /^[a-z_]{1,64}$/.test(q.error) ? q.error : 'no code';
      this.d.log.info({ error: said }, 'login: the identity provider returned no code');
      return back({ error: said === 'access_denied' ? 'access_denied' : 'login_failed', error_description: `The identity provider said: ${said}` });
    }
    let claims: IdTokenClaims;
    try {
      claims = await idp.redeemCode({ code: q.code, codeVerifier: p.verifier, redirectUri: this.d.callbackUrl, nonce: p.nonce });
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message }, 'login: code redemption or ID token verification failed');
      return back({ error: 'login_failed', error_description: 'The identity provider\'s answer could not be verified.' });
    }
    const admitted = this.admit(claims, 'browser');
    if ('denied' in admitted) return back({ error: 'access_denied', error_description: admitted.denied });
    const code = `flc_${secret()}`;
    const now = this.now();
    this.codes.put(p.owner, code, { userId: admitted.user.id, cliChallenge: p.cliChallenge, expiresAt: now + this.lim.codeTtlMs }, now);
    return back({ code });
  }

  /** The CLI redeems its one-time code with the PKCE verifier that matches the challenge it sent to startLogin. */
  exchange(req: { code: string; codeVerifier: string }): TokenGrant {
    this.idp();
    const c = this.codes.take(req.code);
    if (!c) throw new FcmError('login_failed', 'This login code is unknown or was already used. Run fcm login again.');
    if (c.expiresAt <= this.now()) throw new FcmError('expired_token', 'This login code has expired. Run fcm login again.');
    if (!sameString(sha256(req.codeVerifier), c.cliChallenge)) throw new FcmError('login_failed', 'The PKCE verifier does not match this login.');
    const user = this.d.users.get(c.userId);
    if (!user) throw new FcmError('login_failed', 'The user of this login is gone.');
    return this.d.accounts.mint(user, 'browser');
  }

  async startDevice(client: string): Promise<{ deviceCode: string; userCode: string; verificationUri: string; verificationUriComplete: string | null; interval: number; expiresIn: number }> {
    const idp = this.idp();
    let caps: { device: boolean };
    try {
      caps = await idp.capabilities();
    } catch (e) {
      throw new FcmError('login_failed', `The identity provider cannot be reached: ${(e as Error).message}`);
    }
    if (!caps.device) throw new FcmError('auth_not_configured', 'The identity provider does not offer device login; use fcm login in a browser.');
    const now = this.now();
    const a = await idp.startDevice().catch((e: Error) => {
      throw new FcmError('login_failed', `The identity provider refused to start a device login: ${e.message}`);
    });
    const deviceCode = `fdc_${secret()}`;
    const ttl = Math.min(a.expiresInSec * 1000, this.lim.deviceTtlMs);
    const intervalMs = Math.max(1, a.intervalSec) * 1000;
    this.devices.put(client, deviceCode, { issuerCode: a.deviceCode, intervalMs, nextPollAt: now, expiresAt: now + ttl, busy: false }, now);
    return {
      deviceCode,
      userCode: a.userCode,
      verificationUri: a.verificationUri,
      verificationUriComplete: a.verificationUriComplete,
      interval: intervalMs / 1000,
      expiresIn: Math.floor(ttl / 1000),
    };
  }

  async pollDevice(deviceCode: string): Promise<TokenGrant> {
    const idp = this.idp();
    const s = this.devices.get(deviceCode);
    if (!s) throw new FcmError('expired_token', 'This device login is unknown or over. Run fcm login --device again.');
    const now = this.now();
    if (s.expiresAt <= now) {
      this.devices.delete(deviceCode);
      throw new FcmError('expired_token', 'This device login has expired. Run fcm login --device again.');
    }
    // RFC 8628 §3.5: polling faster than the interval earns slow_down and a longer interval.
    if (s.busy || now < s.nextPollAt) {
      s.intervalMs += 5000;
      s.nextPollAt = now + s.intervalMs;
      throw new FcmError('slow_down', `Poll at most every ${s.intervalMs / 1000} seconds.`);
    }
    s.busy = true;
    s.nextPollAt = now + s.intervalMs - 500;
    let r;
    try {
      r = await idp.pollDevice(s.issuerCode);
    } catch (e) {
      this.devices.delete(deviceCode);
      this.d.log.warn({ err: (e as Error).message }, 'device login: token request or ID token verification failed');
      throw new FcmError('login_failed', "The identity provider's answer could not be verified.");
    } finally {
      s.busy = false;
    }
    switch (r.status) {
      case 'pending':
        throw new FcmError('authorization_pending', 'Waiting for you to approve the login in the browser.');
      case 'slow_down':
        s.intervalMs += 5000;
        s.nextPollAt = this.now() + s.intervalMs - 500;
        throw new FcmError('slow_down', `Poll at most every ${s.intervalMs / 1000} seconds.`);
      case 'denied':
        this.devices.delete(deviceCode);
        throw new FcmError('access_denied', 'The login was denied at the identity provider.');
      case 'expired':
        this.devices.delete(deviceCode);
        throw new FcmError('expired_token', 'This device login has expired. Run fcm login --device again.');
    }
    this.devices.delete(deviceCode);
    const admitted = this.admit(r.claims, 'device');
    if ('denied' in admitted) throw new FcmError('access_denied', admitted.denied);
    return this.d.accounts.mint(admitted.user, 'device');
  }

  /** Logins in progress: in all, and of one client address (tests, health). */
  pending(client?: string): { logins: number; codes: number; devices: number } {
    const n = (m: SecretMap<{ expiresAt: number }>) => (client === undefined ? m.size : m.sizeOf(client));
    return { logins: n(this.logins), codes: n(this.codes), devices: n(this.devices) };
  }

  private idp(): IdentityProvider {
    if (!this.d.idp) throw new FcmError('auth_not_configured', 'Login is not configured on this daemon (FCM_OIDC_CLIENT_ID); use the admin token.');
    return this.d.idp;
  }

  /** The allowlist decides; users are created only once admitted. */
  private admit(c: IdTokenClaims, flow: string): { user: ReturnType<UserStore['upsert']> } | { denied: string } {
    if (!c.email) return { denied: 'The identity provider did not share an email address (scope "email").' };
    const d = this.d.policy.decide({ email: c.email, emailVerified: c.emailVerified, hd: c.hd });
    if (!d.allowed) {
      this.d.log.info({ email: c.email, flow, reason: d.reason }, 'login refused');
      return { denied: `Login refused: ${d.reason}. Ask the server's admin to allow you (FCM_ALLOWED_EMAILS / FCM_ALLOWED_DOMAINS).` };
    }
    const user = this.d.users.upsert({ issuer: c.issuer, subject: c.subject, email: c.email, name: c.name, hd: c.hd ?? null }, new Date(this.now()).toISOString());
    this.d.log.info({ userId: user.id, email: c.email, flow, admin: d.admin }, 'login');
    return { user };
  }
}
