/** Per-invocation state: output styles, and host/token/.fcm resolved lazily (only commands that call the API need them). */
import { createFcmClient, type FcmClient } from '../client.js';
import { colorEnabled, style, type Io, type Style } from './io.js';
import type { ErrorContext } from './render-error.js';
import { findDotfile, resolveHost, resolveToken, type Dotfile, type ResolvedHost, type ResolvedToken } from './resolve.js';

export interface Globals {
  host?: string;
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

  host(): ResolvedHost {
    this.hostR ??= resolveHost(this.globals.host, this.io.env, this.dotfile());
    this.errCtx.host = this.hostR;
    return this.hostR;
  }

  token(): ResolvedToken {
    if (!this.tokenR) {
      this.tokenR = resolveToken(this.io.env, this.io.home);
      for (const w of this.tokenR.warnings) this.warn(w);
    }
    this.errCtx.tokenSource = this.tokenR.source;
    return this.tokenR;
  }

  /** `auth` false: operations without security do not read (or warn about) the token. */
  client(auth = true): FcmClient {
    let c = this.clients.get(auth);
    if (!c) {
      c = createFcmClient({
        baseUrl: this.host().url,
        token: auth ? this.token().token : null,
        userAgent: `fcm-cli/${this.version}`,
        ...(this.io.fetch ? { fetch: this.io.fetch } : {}),
      });
      this.clients.set(auth, c);
    }
    return c;
  }
}
