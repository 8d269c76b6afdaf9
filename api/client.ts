/**
 * The typed fcm API client (openapi-fetch over the generated types).
 * Names follow the operationIds: `createVm` ↔ `vms.create`, `getHealth` ↔ `health.get`.
 * Every method resolves to the response body or throws an ApiError
 * (api/errors.ts); nothing returns `{ data, error }`.
 */
import createClient, { type Client } from 'openapi-fetch';
import { ApiError, errorFromResponse, unreachable } from './errors.js';
import type { components, paths } from './openapi.gen.js';

export type Schemas = components['schemas'];
export type Vm = Schemas['Vm'];
export type VmState = Schemas['VmState'];
export type VmList = Schemas['VmList'];
export type Health = Schemas['Health'];
/** Properties with a default are optional in requests (openapi-typescript marks them required, as they are in responses). */
export type CreateVmRequest = Partial<Schemas['CreateVmRequest']>;
export type StopVmRequest = Partial<Schemas['StopVmRequest']>;

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface FcmClientOptions {
  /** Daemon base URL, e.g. http://localhost:7777 */
  baseUrl: string;
  /** Bearer token; omitted when null/empty (operations without auth still work). */
  token?: string | null;
  /** For tests; defaults to globalThis.fetch. */
  fetch?: typeof globalThis.fetch;
  userAgent?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface WaitForOptions extends CallOptions {
  /** Give up after this long (ApiError `wait_timeout`). Default 10 minutes. */
  timeoutMs?: number;
  /** Seconds each long-poll may take on the server (1..600). Default 30. */
  pollSeconds?: number;
}

/** An untyped call, for code driven by the spec at run time (the generated CLI). */
export interface RawCall {
  path?: Record<string, string>;
  query?: Record<string, unknown>;
  body?: Record<string, unknown>;
}

export type FcmClient = ReturnType<typeof createFcmClient>;

export function createFcmClient(opts: FcmClientOptions) {
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const baseFetch = opts.fetch ?? globalThis.fetch;
  const raw: Client<paths> = createClient<paths>({
    baseUrl,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.userAgent ? { 'user-agent': opts.userAgent } : {}),
    },
    // No HTTP answer → `unreachable`; a caller's abort stays an AbortError.
    fetch: async (req: Request) => {
      try {
        return await baseFetch(req);
      } catch (e) {
        if (req.signal.aborted && (e as Error)?.name === 'AbortError') throw e;
        throw unreachable(baseUrl, e);
      }
    },
  });

  async function unwrap<T>(p: Promise<{ data?: unknown; error?: unknown; response: Response }>): Promise<T> {
    let res: { data?: unknown; error?: unknown; response: Response };
    try {
      res = await p;
    } catch (e) {
      // openapi-fetch parses bodies itself: a non-JSON success body throws SyntaxError here.
      if (e instanceof SyntaxError) {
        throw new ApiError({ code: 'bad_response', status: 0, title: 'The response is not JSON', detail: e.message, url: baseUrl });
      }
      // The connection can also break while the body is read, outside the fetch wrapper.
      if (e instanceof TypeError) throw unreachable(baseUrl, e);
      throw e;
    }
    if (res.error !== undefined || !res.response.ok) throw errorFromResponse(res.response, res.error);
    return res.data as T;
  }

  const name = (n: string) => ({ params: { path: { name: n } } });

  const vms = {
    list: (o: CallOptions = {}) => unwrap<VmList>(raw.GET('/v1/vms', { ...o })),
    create: (body: CreateVmRequest = {}, o: CallOptions = {}) => unwrap<Vm>(raw.POST('/v1/vms', { body: body as Schemas['CreateVmRequest'], ...o })),
    get: (n: string, o: CallOptions = {}) => unwrap<Vm>(raw.GET('/v1/vms/{name}', { ...name(n), ...o })),
    delete: (n: string, o: CallOptions = {}) => unwrap<void>(raw.DELETE('/v1/vms/{name}', { ...name(n), ...o })),
    start: (n: string, o: CallOptions = {}) => unwrap<Vm>(raw.POST('/v1/vms/{name}/start', { ...name(n), ...o })),
    stop: (n: string, body: StopVmRequest = {}, o: CallOptions = {}) =>
      unwrap<Vm>(raw.POST('/v1/vms/{name}/stop', { ...name(n), body: body as Schemas['StopVmRequest'], ...o })),
    restart: (n: string, body: StopVmRequest = {}, o: CallOptions = {}) =>
      unwrap<Vm>(raw.POST('/v1/vms/{name}/restart', { ...name(n), body: body as Schemas['StopVmRequest'], ...o })),
    /** One long-poll: resolves when the VM is in `state`; throws `wait_timeout` after `timeout` seconds. */
    wait: (n: string, q: { state?: VmState; timeout?: number } = {}, o: CallOptions = {}) =>
      unwrap<Vm>(raw.GET('/v1/vms/{name}/wait', { params: { path: { name: n }, query: q }, ...o })),
    /**
     * Long-polls until the VM is in `state`, re-polling after each server-side
     * `wait_timeout`; throws `vm_failed` if the VM fails, `wait_timeout` once
     * `timeoutMs` has passed.
     */
    waitFor: async (n: string, state: VmState, o: WaitForOptions = {}): Promise<Vm> => {
      const deadline = Date.now() + (o.timeoutMs ?? 600_000);
      for (;;) {
        const left = Math.ceil((deadline - Date.now()) / 1000);
        if (left <= 0) {
          throw new ApiError({ code: 'wait_timeout', status: 408, title: 'Timed out waiting for the VM', detail: `${n} did not become ${state} in time.`, url: baseUrl });
        }
        try {
          return await vms.wait(n, { state, timeout: Math.min(o.pollSeconds ?? 30, left, 600) }, o.signal ? { signal: o.signal } : {});
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 'wait_timeout')) throw e;
        }
      }
    },
  };

  const health = {
    get: (o: CallOptions = {}) => unwrap<Health>(raw.GET('/v1/health', { ...o })),
  };

  /** Calls any operation by method and path template; for spec-driven callers that cannot name the path statically. */
  const call = (method: HttpMethod, path: string, init: RawCall = {}, o: CallOptions & { parseAs?: 'json' | 'text' } = {}): Promise<unknown> => {
    const params = { path: init.path ?? {}, query: init.query ?? {} };
    const request = raw.request as unknown as (m: string, p: string, i: object) => Promise<{ data?: unknown; error?: unknown; response: Response }>;
    return unwrap<unknown>(request(method, path, { params, ...(init.body !== undefined ? { body: init.body } : {}), ...o }));
  };

  return { baseUrl, raw, vms, health, call };
}
