/**
 * The one table of error codes. Every failure the API reports is an FcmError
 * with one of these codes; the HTTP layer turns it into RFC 9457 problem+json.
 * Clients (CLI, providers) branch on `code`, never on message text.
 * Keep in sync with `ErrorCode` in openapi.yaml (a unit test checks both ways).
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, title: 'Invalid request' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Not allowed' },
  not_found: { status: 404, title: 'Not found' },
  vm_not_found: { status: 404, title: 'VM not found' },
  name_taken: { status: 409, title: 'Name already taken' },
  domain_taken: { status: 409, title: 'Domain already in use' },
  domain_not_verified: { status: 422, title: 'Domain ownership not proven' },
  key_invalid: { status: 400, title: 'Not a valid SSH public key' },
  key_taken: { status: 409, title: 'SSH key already registered' },
  key_proof_failed: { status: 400, title: 'Possession of the SSH key not proven' },
  release_not_found: { status: 404, title: 'Release not found' },
  snapshot_not_found: { status: 404, title: 'Snapshot not found' },
  deploy_failed: { status: 422, title: 'Deploy failed' },
  no_previous_release: { status: 409, title: 'Nothing to roll back to' },
  authorization_pending: { status: 400, title: 'Waiting for the user to approve the login' },
  slow_down: { status: 400, title: 'Polling too fast' },
  access_denied: { status: 403, title: 'Login denied' },
  expired_token: { status: 400, title: 'The login code expired' },
  login_failed: { status: 400, title: 'Login failed' },
  auth_not_configured: { status: 501, title: 'Login is not configured on this daemon' },
  not_implemented: { status: 501, title: 'Not implemented yet' },
  invalid_state: { status: 409, title: 'VM is in the wrong state' },
  vm_failed: { status: 409, title: 'VM failed' },
  wait_timeout: { status: 408, title: 'Timed out waiting for the VM' },
  quota_exceeded: { status: 429, title: 'Quota exceeded' },
  ip_pool_exhausted: { status: 503, title: 'No free IP address' },
  insufficient_capacity: { status: 503, title: 'Not enough capacity on this host' },
  host_unreachable: { status: 503, title: "The VM's host is unreachable" },
  database_unavailable: { status: 503, title: 'The database is unavailable' },
  wrong_host: { status: 421, title: 'The VM runs on another host' },
  image_missing: { status: 422, title: 'Image not found' },
  hypervisor_failed: { status: 502, title: 'The hypervisor failed' },
  disk_full: { status: 507, title: 'Not enough disk space' },
  payload_too_large: { status: 413, title: 'Request body too large' },
  backup_invalid: { status: 422, title: 'Not a valid, complete backup archive' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  rate_limited: { status: 429, title: 'Too many requests' },
  too_many_runs: { status: 429, title: 'Too many one-off commands in this VM' },
  guest_unreachable: { status: 502, title: "The VM's guest agent does not answer" },
  csrf_failed: { status: 403, title: 'Cross-site request refused' },
  internal: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  /** JSON pointer into the request, e.g. `/body/memoryMib`. */
  path: string;
  message: string;
}

/**
 * Which limit a `quota_exceeded` or `insufficient_capacity` hit (problem member
 * `limit`): its name, its value, what is in use and what the request asked for,
 * all in `unit`. A client can print "memoryMib: 9216 + 2048 > 10240 MiB".
 */
export interface LimitInfo {
  name: string;
  value: number;
  usage: number;
  requested: number;
  unit: string;
}

export class FcmError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly title: string;
  readonly errors?: FieldError[];
  readonly limit?: LimitInfo;
  /** For 429 and 503: when to try again (the Retry-After header). */
  readonly retryAfterSec?: number;

  constructor(code: ErrorCode, detail: string, opts: { cause?: unknown; errors?: FieldError[]; limit?: LimitInfo; retryAfterSec?: number } = {}) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FcmError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.title = ERROR_CODES[code].title;
    if (opts.errors) this.errors = opts.errors;
    if (opts.limit) this.limit = opts.limit;
    if (opts.retryAfterSec !== undefined) this.retryAfterSec = opts.retryAfterSec;
  }
}

export function isFcmError(e: unknown, code?: ErrorCode): e is FcmError {
  return e instanceof FcmError && (code === undefined || e.code === code);
}

export const errors = {
  vmNotFound: (name: string) => new FcmError('vm_not_found', `No VM named "${name}".`),
  nameTaken: (name: string) => new FcmError('name_taken', `A VM named "${name}" already exists.`),
  invalidState: (name: string, state: string, wanted: string) =>
    new FcmError('invalid_state', `VM "${name}" is ${state}; it must be ${wanted}.`),
};
