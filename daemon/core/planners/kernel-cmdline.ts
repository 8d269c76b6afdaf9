import type { Accel } from '../model.js';

/**
 * The kernel command line is the guest init's whole configuration contract
 * (see rootfs/README.md). Values are validated here because the init parses
 * them with a shell: nothing but the characters each field needs gets through.
 */
export interface CmdlineInput {
  vmId: string;
  hostname: string;
  ip: string;
  prefix: number;
  gateway: string;
  dns: string | null;
  agentPort: number;
  accel: Accel;
  /** Host TSC frequency in kHz; required under TCG (else the guest's boot hangs calibrating). */
  tscKhz: number | null;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export function planCmdline(i: CmdlineInput): string {
  if (!/^vm_[0-9a-f]+$/.test(i.vmId)) throw new Error(`bad vm id ${i.vmId}`);
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(i.hostname)) throw new Error(`bad hostname ${i.hostname}`);
  for (const ip of [i.ip, i.gateway, ...(i.dns ? [i.dns] : [])]) {
    if (!IPV4.test(ip)) throw new Error(`bad address ${ip}`);
  }
  const args = [
    'console=ttyS0',
    'reboot=k',
    'panic=-1',
    'root=/dev/vda',
    'rw',
    'quiet',
    `fcm.vm=${i.vmId}`,
    `fcm.hostname=${i.hostname}`,
    `fcm.ip=${i.ip}/${i.prefix}`,
    `fcm.gw=${i.gateway}`,
    `fcm.agent_port=${i.agentPort}`,
  ];
  if (i.dns) args.push(`fcm.dns=${i.dns}`);
  if (i.accel === 'tcg') {
    if (!i.tscKhz || !Number.isInteger(i.tscKhz)) throw new Error('TCG guests need the host TSC frequency');
    // Without these, TCG guests spin in TSC calibration / timer checks (measured: boots hang).
    args.push(`tsc_early_khz=${i.tscKhz}`, 'tsc=reliable', 'no_timer_check');
  }
  return args.join(' ');
}

/**
 * A snapshot template's command line: no network (it has no identity yet;
 * a restored copy applies its seed's), and init_on_free=1 so pages the guest
 * frees are zero — zero pages cost nothing in the saved state.
 */
export function planTemplateCmdline(i: Pick<CmdlineInput, 'vmId' | 'agentPort' | 'accel' | 'tscKhz'>): string {
  if (!/^vm_[0-9a-f]+$/.test(i.vmId)) throw new Error(`bad vm id ${i.vmId}`);
  const args = ['console=ttyS0', 'reboot=k', 'panic=-1', 'root=/dev/vda', 'rw', 'quiet', 'init_on_free=1',
    `fcm.vm=${i.vmId}`, 'fcm.hostname=template', `fcm.agent_port=${i.agentPort}`];
  if (i.accel === 'tcg') {
    if (!i.tscKhz || !Number.isInteger(i.tscKhz)) throw new Error('TCG guests need the host TSC frequency');
    args.push(`tsc_early_khz=${i.tscKhz}`, 'tsc=reliable', 'no_timer_check');
  }
  return args.join(' ');
}
