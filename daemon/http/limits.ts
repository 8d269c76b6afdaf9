/**
 * Request limits, per class (config.ts `rateLimits`):
 *
 *   login   per client address: starting a browser or device login (the
 *           operations marked `x-rate-limit: login` in openapi.yaml)
 *   public  per client address: every other request that needs no token —
 *           the operations whose `security` allows none (health, the rest of
 *           the login flow), the console WebSocket opened with a ticket, the
 *           docs, the web console page, git over HTTPS
 *   user    per user: every operation done with a user's token (the admin
 *           token is the host's root credential and is not limited)
 *
 * The classes come from the spec, never from a hand-kept list of paths. A
 * refusal is 429 `rate_limited` with Retry-After (seconds).
 */
import type { IncomingMessage } from 'node:http';
import { FcmError } from '../core/errors.js';
import type { Principal } from '../core/model.js';
import { DEFAULT_RATES, parseRate, RateBuckets, type Rate } from '../core/rate-limit.js';
import { ADMIN } from '../core/tokens.js';
import { clientAddress, clientKey, parseTrustedProxies, type TrustedProxies } from './client-address.js';

export type LimitClass = 'login' | 'public' | 'user';

export interface LimitsConfig {
  /** FCM_TRUSTED_PROXIES: whose X-Forwarded-For is believed. */
  trustedProxies: string;
  /** Per class; null: not limited. */
  login: Rate | null;
  public: Rate | null;
  user: Rate | null;
}

const WHY: Record<LimitClass, string> = {
  login: 'Too many logins started from your address',
  public: 'Too many requests from your address',
  user: 'Too many requests with your account',
};

export class RequestLimits {
  readonly trusted: TrustedProxies;
  private readonly buckets: Partial<Record<LimitClass, RateBuckets>> = {};
  /** clientOf() of requests without X-Forwarded-For, per connection. */
  private readonly bySocket = new WeakMap<object, string>();

  constructor(cfg: LimitsConfig, now: () => number = Date.now) {
    this.trusted = parseTrustedProxies(cfg.trustedProxies);
    for (const k of ['login', 'public', 'user'] as const) {
      const r = cfg[k];
      if (r) this.buckets[k] = new RateBuckets(r, now);
    }
  }

  /** The client's address under the trusted-proxy rule (logs). */
  addressOf(req: IncomingMessage): string {
    return clientAddress(req.socket?.remoteAddress, req.headers['x-forwarded-for'], this.trusted);
  }

  /**
   * What per-address limits and fair tables count by (IPv6: the /64). Without X-Forwarded-For it
   * depends on the connection's address alone, so it is worked out once per connection (a
   * keep-alive client sends many requests on one).
   */
  clientOf(req: IncomingMessage): string {
    const socket = req.socket;
    if (req.headers['x-forwarded-for'] !== undefined || !socket) return clientKey(this.addressOf(req));
    let key = this.bySocket.get(socket);
    if (key === undefined) this.bySocket.set(socket, (key = clientKey(this.addressOf(req))));
    return key;
  }

  /** Counts one request of `client` (a clientOf key) in an address class; throws rate_limited when over. */
  address(kind: 'login' | 'public', client: string): void {
    this.take(kind, client);
  }

  /** Counts one request of an authenticated principal (the admin token is not counted). */
  principal(p: Principal): void {
    if (p.userId === ADMIN.userId) return;
    this.take('user', p.userId);
  }

  private take(kind: LimitClass, key: string): void {
    const b = this.buckets[kind];
    if (!b) return;
    const r = b.take(key);
    if (r.ok) return;
    const sec = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
    throw new FcmError('rate_limited', `${WHY[kind]}; try again in ${sec} s.`, { retryAfterSec: sec });
  }
}

/** The daemon's default limits (core/rate-limit.ts DEFAULT_RATES, loopback proxies trusted). */
export function defaultLimits(now?: () => number): RequestLimits {
  return new RequestLimits({ trustedProxies: 'loopback', login: parseRate(DEFAULT_RATES.login), public: parseRate(DEFAULT_RATES.public), user: parseRate(DEFAULT_RATES.user) }, now);
}

/** No limits (benchmarks, tests of other things): the socket address, nothing counted. */
export const NO_LIMITS = new RequestLimits({ trustedProxies: 'none', login: null, public: null, user: null });
