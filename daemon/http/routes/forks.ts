import type { ForkService } from '../../core/forks.js';
import type { Handler } from '../server.js';
import { toApiVm, type VmView } from './vms.js';

export function forkHandlers(forks: ForkService, view: VmView): Record<string, Handler> {
  return {
    forkVm: async ({ principal, params, body, reply }) => {
      const r = await forks.fork(principal, params.name, { name: body.name });
      reply.header('fcm-parent-paused-ms', String(r.parentPausedMs));
      return toApiVm(r.vm, view);
    },
  };
}
