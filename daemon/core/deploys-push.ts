/**
 * The gate between git and deploys. Both remotes end in the same place:
 *
 *   SSH:   sshd → AuthorizedKeysCommand (key by fingerprint) → forced command
 *          → authorizeKey(key, vm, service) → git receive-pack/upload-pack
 *   HTTPS: daemon /git/<vm>.git (token) → authorize(principal, vm, service)
 *          → git http-backend → receive-pack/upload-pack
 *   then:  pre-receive hook → push(ticket, tarball) → DeployService.deploy
 *
 * Authorization happens once, before git runs, and yields a push ticket:
 * a random one-use secret handed to git in its environment (FCM_PUSH_TICKET)
 * that the pre-receive hook presents on the daemon's internal socket. The
 * ticket says who pushes to which VM, so the hook cannot be aimed at another
 * VM, and a push into a repository by any other way (no ticket) is refused.
 *
 * The credentials are checked again when the hook presents the ticket: a
 * push authorized by a token revoked meanwhile (or an SSH key removed, or a
 * user taken off the allowlist) is refused there, before anything deploys.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { FcmError } from './errors.js';
import type { DeployInput, DeployOutcome, DeployService, VmDirectory } from './deploys.js';
import type { GitHost } from './ports/git-host.js';
import type { LineSink } from './ports/app-runtime.js';
import type { GitService } from './git-wire.js';
import type { KeyService } from './keys.js';
import type { Principal } from './model.js';

export type { GitService };

export interface PushGrant {
  vmId: string;
  vmName: string;
  /** Absolute path of the VM's bare repository. */
  repo: string;
  /** For receive-pack only: what the pre-receive hook presents. */
  ticket: string | null;
}

interface Ticket {
  principal: Principal;
  vmId: string;
  repo: string;
  expiresAt: number;
}

export interface PushGateDeps {
  vms: VmDirectory;
  keys: KeyService;
  git: GitHost;
  deploys: DeployService;
  /** How long a push may take from authorization to its hook running (uploading the pack). */
  ticketTtlMs?: number;
  now?: () => number;
  /** Is a token's principal still valid (TokenAuthenticator.stillValid)? Key principals are checked with `keys`. */
  stillValid?: (p: Principal) => boolean;
}

export class PushGate {
  private readonly tickets = new Map<string, Ticket>();
  private readonly now: () => number;
  private readonly ttlMs: number;

  constructor(private readonly d: PushGateDeps) {
    this.now = d.now ?? Date.now;
    this.ttlMs = d.ticketTtlMs ?? 60 * 60_000;
  }

  /** SSH: the key's owner must (still) be allowed, and may access the VM. */
  async authorizeKey(keyId: string, vmName: string, service: GitService): Promise<PushGrant> {
    const p = this.d.keys.principalOf(keyId);
    if (!p) throw new FcmError('unauthorized', 'This SSH key is no longer registered with fcm (fcm keys).');
    return this.authorize({ ...p, keyId }, vmName, service);
  }

  /**
   * Both remotes: the VM must exist and be the principal's (else vm_not_found, like the API).
   * `ticket: false` for requests that cannot run the hook (smart HTTP's ref advertisement).
   */
  async authorize(p: Principal, vmName: string, service: GitService, o: { ticket?: boolean } = {}): Promise<PushGrant> {
    let vm;
    try {
      vm = this.d.vms.get(p, vmName);
    } catch (err) {
      if (err instanceof FcmError && err.code === 'vm_not_found') {
        throw new FcmError('vm_not_found', `No app named "${vmName}" (or it is not yours). Create it with: fcm create ${vmName}`);
      }
      throw err;
    }
    // The repository lives beside the VM: a VM another host runs is pushed to there (relayed by
    // the doors while that host is up); while it is unreachable nothing is made here.
    this.d.vms.here?.(vm);
    const repo = await this.d.git.ensure(vm.id);
    let ticket: string | null = null;
    if (service === 'receive-pack' && o.ticket !== false) {
      this.sweep();
      ticket = randomBytes(24).toString('base64url');
      this.tickets.set(ticket, { principal: p, vmId: vm.id, repo, expiresAt: this.now() + this.ttlMs });
    }
    return { vmId: vm.id, vmName: vm.name, repo, ticket };
  }

  /**
   * The pre-receive hook's call. `repo` is where the hook runs: it must be
   * the ticket's repository. The ticket is used up whatever the outcome.
   */
  async push(ticket: string, repo: string, input: DeployInput, tar: Readable, out: LineSink): Promise<DeployOutcome> {
    const t = this.tickets.get(ticket);
    this.tickets.delete(ticket);
    if (!t || t.expiresAt < this.now() || t.repo !== repo) {
      tar.resume();
      throw new FcmError('unauthorized', 'This push was not authorized by fcm (or took too long): push again.');
    }
    if (!this.valid(t.principal)) {
      tar.resume();
      throw new FcmError('unauthorized', 'The credentials that authorized this push were revoked meanwhile (token revoked, SSH key removed, or no longer allowed on this server); nothing was deployed.');
    }
    return this.d.deploys.deploy(t.principal, t.vmId, input, tar, out);
  }

  /** The push's credentials still stand: its SSH key still registered to the same user, or its token still valid. */
  private valid(p: Principal): boolean {
    if (p.keyId) {
      const now = this.d.keys.principalOf(p.keyId);
      return now !== null && now.userId === p.userId && (now.admin || !p.admin);
    }
    if (p.tokenId) return this.d.stillValid ? this.d.stillValid(p) : true;
    return false;
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, t] of this.tickets) if (t.expiresAt < now) this.tickets.delete(k);
  }
}
