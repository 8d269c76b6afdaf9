import { FcmError } from '../../core/errors.js';
import type { HostView } from '../../core/hosts.js';
import type { Handler } from '../server.js';

/** API shape of a host (openapi.yaml `Host`). */
export function toApiHost(h: HostView) {
  return {
    id: h.id,
    state: h.state,
    publicIp: h.publicIp,
    apiUrl: h.apiUrl,
    subnet: h.subnetCidr,
    vcpus: h.vcpus,
    memoryMib: h.memoryMib,
    diskMib: h.diskMib,
    vms: h.usage.vms,
    usedVcpus: h.usage.vcpus,
    usedMemoryMib: h.usage.memoryMib,
    usedDiskMib: h.usage.diskMib,
    startedAt: h.startedAt,
    renewedAt: h.renewedAt,
    leaseExpiresAt: h.leaseExpiresAt,
  };
}

export function hostHandlers(hosts: { list(): HostView[] }): Record<string, Handler> {
  return {
    listHosts: ({ principal }) => {
      if (!principal.admin) throw new FcmError('forbidden', "Only an admin can list the cluster's hosts.");
      return { hosts: hosts.list().map(toApiHost) };
    },
  };
}
