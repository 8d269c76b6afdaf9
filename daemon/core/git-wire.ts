/**
 * The wire between the daemon and the programs sshd and git run for a push
 * (daemon/drivers/git/helpers/): the internal socket's routes and headers,
 * the shape of the deploy stream the pre-receive hook relays, and the names
 * both sides check. One definition, imported by both sides: the helpers are
 * bundled from this module when the daemon starts.
 *
 * Pure: no imports but the spec's generated rules, so a bundled helper
 * stays small and starts fast.
 */
import { matches, VmName } from '../../api/patterns.gen.js';

/**
 * The last line of a deploy stream: `fcm-result: {json}`. The guest agent
 * ends its streams with one (rootfs/guest/operations.py; the guest's contract
 * test, test/unit/agent-contract.test.ts, checks they agree), and so does the
 * daemon's answer to the pre-receive hook.
 */
export const RESULT_PREFIX = 'fcm-result: ';

export type GitService = 'receive-pack' | 'upload-pack';

/** Routes of the internal socket (`<state dir>/git/fcm.sock`). */
export const INTERNAL_ROUTES = {
  /** GET, header `x-fcm-fingerprint: SHA256:…` → text/plain authorized_keys line, or empty (unknown key). */
  keys: '/ssh/keys',
  /** POST AuthorizeRequest (JSON) → AuthorizeAnswer. */
  authorize: '/ssh/authorize',
  /** POST the tar of the pushed commit, PUSH_HEADERS → text/plain deploy output ending with a result line. */
  push: '/push',
  /**
   * GET with `Upgrade: fcm-git` and TUNNEL_HEADERS → 101, then git's own protocol both ways:
   * the forced command's way to a VM another host of the cluster runs (AuthorizeAnswer.relay).
   */
  tunnel: '/ssh/tunnel',
} as const;

/** The upgrade protocol of git tunnels (the internal socket's, and between hosts). */
export const TUNNEL_PROTOCOL = 'fcm-git';

export const TUNNEL_HEADERS = {
  keyId: 'x-fcm-key-id',
  vm: 'x-fcm-vm',
  service: 'x-fcm-service',
} as const;

/** Between hosts: the git tunnel of app `name` on the owning host's API server (cluster signature only). */
export const tunnelPath = (name: string, service: GitService) => `/git/${name}.git/ssh-tunnel?service=git-${service}`;
export const TUNNEL_PATH = /^\/git\/([^/?#]+)\/ssh-tunnel$/;

export const FINGERPRINT_HEADER = 'x-fcm-fingerprint';

/** git's environment variable carrying the push ticket to the pre-receive hook. */
export const PUSH_TICKET_ENV = 'FCM_PUSH_TICKET';

export const PUSH_HEADERS = {
  /** The push ticket from the daemon's authorization (FCM_PUSH_TICKET in git's environment). */
  ticket: 'x-fcm-ticket',
  commit: 'x-fcm-commit',
  ref: 'x-fcm-ref',
  /** The repository the hook runs in (absolute). */
  repo: 'x-fcm-repo',
} as const;

export interface AuthorizeRequest {
  keyId: string;
  /** The app name as the client wrote it (parsed by appFromRepoPath). */
  vm: string;
  service: GitService;
}

export interface AuthorizeAnswer {
  /** Absolute path of the app's bare repository. */
  repo: string;
  /** receive-pack only: the one-use ticket the pre-receive hook presents. */
  ticket: string | null;
}

/** The app runs on another host of the cluster: open INTERNAL_ROUTES.tunnel instead of running git here. */
export interface RelayAnswer {
  relay: true;
}

/** What the daemon says about a push in its result line. */
export type PushResult = { ok: true; version: number } | { ok: false; error: string };

export const KEY_ID = /^key_[0-9a-f]{12}$/;
/** SHA-1 or SHA-256 object names. */
export const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
/** The branches a push deploys. */
export const DEPLOY_REFS: readonly string[] = ['refs/heads/main', 'refs/heads/master'];

/**
 * The app a git path names: `cosmic-nova.git`, `/cosmic-nova.git/`,
 * `cosmic-nova` (what git clients send over SSH and in smart HTTP URLs) —
 * or null when it is not an app name by openapi.yaml's VmName.
 */
export function appFromRepoPath(path: string): string | null {
  const name = path.replace(/^\//, '').replace(/\/$/, '').replace(/\.git$/, '');
  return matches(VmName, name) ? name : null;
}

/** One line of deploy output as sent: only the daemon's own last line may look like a result (the hook trusts the last line). */
export function outputLine(line: string): string {
  return `${line.startsWith(RESULT_PREFIX) ? ` ${line}` : line}\n`;
}

export function resultLine(r: PushResult): string {
  return `${RESULT_PREFIX}${JSON.stringify(r)}\n`;
}

/** The result a last line carries, or null when it is not a result line; malformed JSON is a failure. */
export function parseResultLine(line: string): PushResult | null {
  if (!line.startsWith(RESULT_PREFIX)) return null;
  let v: unknown;
  try {
    v = JSON.parse(line.slice(RESULT_PREFIX.length));
  } catch {
    return { ok: false, error: 'malformed result line' };
  }
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  if (o.ok === true) return { ok: true, version: typeof o.version === 'number' ? o.version : 0 };
  return { ok: false, error: typeof o.error === 'string' ? o.error : 'the deploy failed' };
}
