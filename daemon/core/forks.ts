/**
 * `fcm fork` as a whole: the VM (VmService.fork: live capture of the parent,
 * restore as a VM with its own identity) and the app around it (DeployService:
 * config vars, releases, repository), copied while no deploy, rollback or
 * config change of the parent runs, so the fork's release rows describe the
 * guest it was restored from. All or nothing (vm-forks.ts).
 */
import type { DeployService } from './deploys.js';
import type { Principal } from './model.js';
import type { ForkInput, ForkResult } from './vm-forks.js';
import type { VmService } from './vm-service.js';

export interface ForkServiceDeps {
  vms: Pick<VmService, 'get' | 'fork'>;
  deploys: Pick<DeployService, 'exclusive' | 'forkApp'>;
}

export class ForkService {
  constructor(private readonly d: ForkServiceDeps) {}

  async fork(p: Principal, name: string, input: ForkInput): Promise<ForkResult> {
    const parent = this.d.vms.get(p, name);
    return this.d.deploys.exclusive(parent.id, () => this.d.vms.fork(p, name, input, this.d.deploys.forkApp));
  }
}
