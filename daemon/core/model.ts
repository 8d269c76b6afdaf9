export const VM_STATES = ['creating', 'starting', 'running', 'sleeping', 'stopping', 'stopped', 'failed', 'deleting'] as const;
export type VmState = (typeof VM_STATES)[number];
export type HypervisorKind = 'qemu' | 'firecracker';
export type Accel = 'kvm' | 'tcg';

/** What the user asked for; defaults come from openapi.yaml. */
export interface VmSize {
  vcpus: number;
  memoryMib: number;
  diskMib: number;
  swapMib: number;
}

/** A VM as stored. `desired` is what reconcile converges to after a daemon restart. */
export interface VmRecord extends VmSize {
  id: string;
  name: string;
  owner: string;
  state: VmState;
  desired: 'running' | 'stopped';
  port: number;
  image: string;
  /** Resolved image directory the VM's disk is based on (the image can be rebuilt; the VM keeps its base). */
  imageDir: string;
  hypervisor: HypervisorKind;
  slot: number;
  ip: string;
  mac: string;
  tap: string;
  lastError: string | null;
  /**
   * Custom domains claimed for the VM besides its own URL. Only those in
   * `verifiedDomains` (ownership proven, core/domains.ts) are routed; the
   * rest are pending and get no route and no certificate.
   */
  domains: string[];
  /** The verified subset of `domains`. A domain is verified for at most one VM. */
  verifiedDomains: string[];
  /** Idle seconds (no request through its URL, no console, no deploy) after which it is put to sleep; null: never. */
  sleepAfterSec: number | null;
  /**
   * The host (FCM_HOST_ID) whose hypervisor runs it. Only that host's daemon
   * starts, stops, boots or deletes it; the others forward or refuse.
   */
  host: string;
  createdAt: string;
  updatedAt: string;
}

export type NewVm = Omit<VmRecord, 'slot' | 'ip' | 'mac' | 'tap' | 'createdAt' | 'updatedAt' | 'verifiedDomains' | 'host'>;

/** The host id of a daemon that was given none (FCM_HOST_ID): one host on its own. */
export const LOCAL_HOST = 'local';
/**
 * `domains` replaces the claimed list: domains kept keep their status, new
 * ones are pending. `verifiedDomains` marks domains of the VM verified
 * (domain_taken when another VM has one of them verified).
 */
export type VmPatch = Partial<Pick<VmRecord, 'state' | 'desired' | 'lastError' | 'vcpus' | 'memoryMib' | 'domains' | 'verifiedDomains' | 'sleepAfterSec'>>;

export interface Principal {
  userId: string;
  email: string | null;
  admin: boolean;
  /** The token this request authenticated with (whoami, logout, revocation). */
  tokenId?: string;
  /** The SSH key a git push over SSH authenticated with (revocation: removing the key stops the push). */
  keyId?: string;
}
