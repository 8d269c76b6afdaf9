/** Per-invocation state: output styles, and host/token/CA/.fcm resolved lazily (only commands that call the API need them). */
import { join, resolve as resolvePath } from 'node:path';
import { caFetch, readCaFile } from '../ca-fetch.js';
import { createFcmClient, type FcmClient } from '../client.js';
import { loadCredentials, type LoadedCredentials } from '../credentials.js';
import { colorEnabled, style, type Io, type Style } from './io.js';
import { CliError, type ErrorContext } from './render-error.js';
import { findDotfile, resolveHost, resolveToken, type Dotfile, type ResolvedHost, type ResolvedToken } from './resolve.js';

export interface Globals {
  host?: string;
  /** --ca-file: a PEM CA the server's certificate chains to (besides the system's). */
  caFile?: string;
  json: boolean;
  /** undefined = auto. */
  color?: boolean;
}

export class Ctx {
  readonly out: Style;
  readonly err: Style;
  /** Colours on stderr (the spinner's frame). */
  readonly errColor: boolean;
  readonly errCtx: ErrorContext = { command: null };
  private dot: Dotfile | null | undefined;
  private hostR: ResolvedHost | undefined;
  private tokenR: ResolvedToken | undefined;
  private credsR: LoadedCredentials | undefined;
  private caR: { path: string; pem: string } | null | undefined;
  private readonly clients = new Map<boolean, FcmClient>();

  constructor(
    readonly io: Io,
    readonly globals: Globals,
    readonly version: string,
  ) {
    const forced = globals.color === true ? { ...io.env, FORCE_COLOR: '1' } : io.env;
    this.out = style(colorEnabled(io.stdout, forced, globals.color === false));
    this.errColor = colorEnabled(io.stderr, forced, globals.color === false);
    this.err = style(this.errColor);
  }

  get json(): boolean {
    return this.globals.json;
  }

  now(): number {
    return this.io.now?.() ?? Date.now();
  }

  print(s: string): void {
    this.io.stdout.write(s);
  }

  /** Diagnostics and notes: stderr, so stdout stays machine-readable. */
  warn(s: string): void {
    this.io.stderr.write(`${this.err.yellow('Warning:')} ${s}\n`);
  }

  note(s: string): void {
    this.io.stderr.write(`${this.err.dim(s)}\n`);
  }

  dotfile(): Dotfile | null {
    if (this.dot === undefined) this.dot = findDotfile(this.io.cwd, (m) => this.warn(m));
    return this.dot;
  }

  /** The credential store (api/credentials.ts), read once; its warnings go to stderr. */
  credentials(): LoadedCredentials {
    if (!this.credsR) {
      this.credsR = loadCredentials(this.io.env, this.io.home);
      for (const w of this.credsR.warnings) this.warn(w);
    }
    return this.credsR;
  }

  /** Forget what was read (after login/logout rewrote the store). */
  reloadCredentials(): void {
    this.credsR = undefined;
    this.tokenR = undefined;
    this.caR = undefined;
    this.clients.clear();
  }

  host(): ResolvedHost {
    this.hostR ??= resolveHost(this.globals.host, this.io.env, this.dotfile(), this.credentials().store.default);
    this.errCtx.host = this.hostR;
    return this.hostR;
  }

  token(): ResolvedToken {
    if (!this.tokenR) {
      this.tokenR = resolveToken(this.host(), this.io.env, this.io.home, this.credentials());
      for (const w of this.tokenR.warnings) this.warn(w);
    }
    this.errCtx.tokenSource = this.tokenR.source;
    return this.tokenR;
  }

  /**
   * The token for the selected host, or a refusal before anything is sent:
   * a host without credentials gets no request at all (a `.fcm` file in a
   * cloned repository must not make fcm talk to, let alone authenticate
   * to, a server the user never logged in to).
   */
  requireToken(): string {
    const t = this.token();
    if (t.token) return t.token;
    const host = this.host();
    const from = host.source === '.fcm' ? ` (the host comes from ${this.dotfile()?.path ?? '.fcm'})` : host.source === 'default' ? ' (the default host)' : '';
    throw new CliError(`Not logged in to ${host.url}${from}`, {
      ...(t.withheld ? { detail: `${t.withheld}.` } : {}),
      hint: `fcm login --host ${host.url}   (or set FCM_TOKEN with --host/FCM_HOST for a token you have)`,
    });
  }

  /** The CA to trust besides the system's: --ca-file > FCM_CA_FILE > the one stored with this host's credentials. */
  ca(): { path: string; pem: string } | null {
    if (this.caR === undefined) {
      const given = this.globals.caFile ?? (this.io.env.FCM_CA_FILE || undefined);
      const path = given ? resolvePath(this.io.cwd, given.startsWith('~/') ? join(this.io.home, given.slice(2)) : given) : this.credentials().store.hosts[this.host().url]?.caFile;
      if (!path) this.caR = null;
      else {
        try {
          this.caR = { path, pem: readCaFile(path) };
        } catch (e) {
          throw new CliError((e as Error).message, { hint: 'give the CA file the server uses (--ca-file or FCM_CA_FILE); with FCM_TLS=internal it is <state dir>/ca.pem on the server' });
        }
      }
    }
    return this.caR;
  }

  /** fetch for this host: the injected one (tests), else for https one that trusts the CA (one connection per request, api/ca-fetch.ts), else the built-in. */
  fetch(): typeof globalThis.fetch | undefined {
    if (this.io.fetch) return this.io.fetch;
    const ca = this.ca();
    return ca || this.host().url.startsWith('https:') ? caFetch(ca?.pem ?? null) : undefined;
  }

  /** `auth` false: operations without security do not read (or warn about) the token. */
  client(auth = true): FcmClient {
    let c = this.clients.get(auth);
    if (!c) {
      const token = auth ? this.requireToken() : null;
      const f = this.fetch();
      c = createFcmClient({
        baseUrl: this.host().url,
        token,
        userAgent: `fcm-cli/${this.version}`,
        ...(f ? { fetch: f } : {}),
      });
      this.clients.set(auth, c);
    }
    return c;
  }
}
