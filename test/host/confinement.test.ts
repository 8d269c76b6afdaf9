/**
 * Every QEMU the daemon runs is confined (daemon/drivers/qemu/qemu-confine.ts),
 * checked on real processes from the outside, through /proc:
 * - a uid and gid of its own (not 0, not another VM's), no capabilities,
 *   no_new_privs, QEMU's seccomp filter on (Seccomp: 2 = filter mode);
 * - a mount view holding only its own files: its disks, its run dir, the
 *   kernel/initrd and the image it is backed by, /usr and a minimal /dev —
 *   no other VM's disks, no state dir, no /etc/shadow;
 * - per-VM cgroup limits (cpu, memory, pids), in whichever hierarchy the
 *   host offers;
 * - nothing of the daemon's environment.
 * And an attack: with the VM's own uid, in the VM's own mount namespace,
 * another VM's disk cannot be opened — with a control showing the same
 * command reads the VM's own disk, and that the other VM's uid could.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { run } from '../../daemon/drivers/proc.js';
import { Qmp } from '../../daemon/drivers/qemu/qmp.js';
import { cgroupDirs, hostLeftovers, hostSkipReason, IMAGES_DIR, startHostHarness, VMM_UID_TEST_BASE, type HostHarness } from '../helpers/host-harness.js';
import { qemuByVm } from '../reliability/lib/host-checks.js';
import { eventually } from '../helpers/wait.js';

const skip = hostSkipReason();
const MEM = 192;
const OVERHEAD = 320;

interface Vm {
  id: string;
  name: string;
  pid: number;
  uid: number;
}

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** Mount points as the process sees them (mountinfo field 5). */
function mountPoints(pid: number): string[] {
  return readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ')[4]!.replace(/\\040/g, ' '));
}

describe('QEMU runs unprivileged and confined (real guests)', { skip: skip ?? false }, () => {
  let h: HostHarness;
  const vms: Vm[] = [];

  before(async () => {
    h = await startHostHarness();
    for (const name of ['conf-a', 'conf-b']) {
      const r = await h.api('POST', '/v1/vms', { name, memoryMib: MEM, swapMib: 32 });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    const pids = new Map<string, number>();
    for (const name of ['conf-a', 'conf-b']) {
      const w = await h.api('GET', `/v1/vms/${name}/wait?state=running&timeout=300`);
      assert.equal(w.status, 200, JSON.stringify(w.body));
      for (const [id, pid] of await qemuByVm(h)) pids.set(id, pid);
      const pid = pids.get(w.body.id);
      assert.ok(pid, `a QEMU process for ${name}`);
      vms.push({ id: w.body.id, name, pid, uid: Number(status(pid).Uid!.split(/\s+/)[0]) });
    }
  });

  after(async () => {
    await h?.close();
  });

  test('health says which confinements are active', async () => {
    const r = await h.api('GET', '/v1/health', undefined, null);
    assert.equal(r.status, 200);
    const c = r.body.confinement;
    assert.equal(c.user, 'per-vm');
    assert.equal(c.seccomp, true);
    assert.equal(c.mountNamespace, true);
    assert.equal(c.jailer, false);
    assert.ok(c.cgroups.version === 'v1' || c.cgroups.version === 'v2', JSON.stringify(c.cgroups));
    assert.deepEqual(c.cgroups.limits, ['cpu', 'memory', 'pids'], `this host offers all three: ${JSON.stringify(c.cgroups)}`);
  });

  test('every VMM in the namespace: own uid/gid ≠ 0, no capabilities, no_new_privs, Seccomp: 2', async () => {
    const all = await qemuByVm(h);
    assert.equal(all.size, 2, 'exactly the two VMs run a QEMU');
    const uids = new Set<number>();
    for (const [id, pid] of all) {
      const st = status(pid);
      const ids = [...st.Uid!.split(/\s+/), ...st.Gid!.split(/\s+/)].map(Number);
      assert.ok(ids.every((u) => u === ids[0] && u >= VMM_UID_TEST_BASE), `${id}: real/effective/saved/fs uid and gid are the VM's own: ${st.Uid} / ${st.Gid}`);
      assert.equal(st.Groups, '', `${id}: no supplementary groups`);
      assert.equal(st.Seccomp, '2', `${id}: QEMU's seccomp filter is on`);
      assert.equal(st.NoNewPrivs, '1', `${id}: no_new_privs`);
      assert.equal(st.THP_enabled, '0', `${id}: no transparent huge pages (FCM_QEMU_THP=false, planProcessFlags)`);
      // No memory merging by default (FCM_KSM=false, SECURITY.md): neither all of QEMU's memory nor its guest RAM.
      assert.match(readFileSync(`/proc/${pid}/ksm_stat`, 'utf8'), /^ksm_merge_any: no$/m, `${id}: not PR_SET_MEMORY_MERGE`);
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      assert.match(argv[argv.indexOf('-M') + 1]!, /,mem-merge=off/, `${id}: guest RAM not marked mergeable`);
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(BigInt(`0x${st[set]}`), 0n, `${id}: ${set}`);
      uids.add(ids[0]!);
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
      assert.deepEqual(env.filter((e) => e.startsWith('FCM_')), [], `${id}: none of the daemon's settings in its environment`);
    }
    assert.equal(uids.size, 2, 'each VM has a uid of its own');
    // Its disks and tap belong to that uid; another VM's do not.
    for (const vm of vms) {
      assert.equal(statSync(join(h.stateDir, 'disks', vm.id, 'root.qcow2')).uid, vm.uid);
      const { stdout } = await h.exec('ip', ['-d', '-j', 'link', 'show', 'type', 'tun']);
      const owners = (JSON.parse(stdout) as { ifname: string; linkinfo: { info_data: { user?: number } } }[]).map((l) => l.linkinfo.info_data.user);
      assert.ok(owners.includes(vm.uid), `a tap owned by ${vm.name}'s uid`);
    }
  });

  test('its mount view holds nothing but its own files', () => {
    for (const vm of vms) {
      const other = vms.find((v) => v !== vm)!;
      const root = `/proc/${vm.pid}/root`;
      const own = join(h.stateDir, 'disks', vm.id);
      const runDir = join(h.stateDir, 'run', vm.id);
      const allowed = (p: string) =>
        p === '/' ||
        p === '/usr' ||
        p === '/dev' ||
        p.startsWith('/dev/') ||
        p === runDir ||
        p.startsWith(`${own}/`) ||
        // The kernel, initrd and the base image its disk is backed by (read-only).
        p.startsWith(`${IMAGES_DIR}/`);
      const mounts = mountPoints(vm.pid);
      assert.deepEqual(mounts.filter((p) => !allowed(p)), [], `${vm.name}: unexpected mounts`);
      assert.ok(mounts.includes(join(own, 'root.qcow2')) && mounts.includes(runDir), `${vm.name}: its own disk and run dir are there`);
      // Seen from inside its root: its own files exist, nothing else does.
      assert.ok(existsSync(join(root, own, 'root.qcow2')), 'its own disk');
      assert.ok(existsSync(join(root, runDir, 'console.log')), 'its own run dir');
      for (const p of [
        '/etc/shadow',
        '/etc/passwd',
        '/root',
        '/proc/self',
        '/sys/fs/cgroup',
        join(h.stateDir, 'fcm.db'),
        join(h.stateDir, 'agent.key'),
        join(h.stateDir, '.token'),
        join(h.stateDir, 'disks', other.id, 'root.qcow2'),
        join(h.stateDir, 'run', other.id, 'console.sock'),
      ]) {
        assert.equal(existsSync(join(root, p)), false, `${vm.name} must not see ${p}`);
      }
      // The view itself is read-only outside the bound files: nothing can be created at its root.
      assert.match(readFileSync(`/proc/${vm.pid}/mountinfo`, 'utf8').split('\n')[0]!, / \/ ro,/);
    }
  });

  test('its cgroups limit CPU to its vCPUs, memory to RAM + overhead, and pids', async () => {
    for (const vm of vms) {
      const lines = readFileSync(`/proc/${vm.pid}/cgroup`, 'utf8').trim().split('\n');
      const inVm = lines.filter((l) => l.endsWith(`/${vm.id}`));
      assert.ok(inVm.length > 0, `${vm.name} is in its own cgroup: ${lines.join(' | ')}`);
      const dirs = cgroupDirs(`fcm-test-${h.ns.slice(5)}`).filter((d) => d.endsWith(`/${vm.id}`));
      const read = (file: string) => {
        const d = dirs.find((x) => existsSync(join(x, file)));
        assert.ok(d, `${file} for ${vm.name} (dirs: ${dirs.join(', ')})`);
        return readFileSync(join(d, file), 'utf8').trim();
      };
      const bytes = String((MEM + OVERHEAD) * 1024 * 1024);
      // The weight: one task's per vCPU; the parent of all VM cgroups weighs as much as its VMs together.
      const parentOf = (file: string) => readFileSync(join(dirs.find((x) => existsSync(join(x, file)))!, '..', file), 'utf8').trim();
      if (existsSync(join(dirs[0]!, 'cgroup.controllers')) || dirs.some((d) => existsSync(join(d, 'memory.max')))) {
        assert.equal(read('cpu.max'), '100000 100000');
        assert.equal(read('cpu.weight'), '100');
        assert.equal(parentOf('cpu.weight'), '200');
        assert.equal(read('memory.max'), bytes);
      } else {
        assert.equal(read('cpu.cfs_quota_us'), '100000');
        assert.equal(read('cpu.cfs_period_us'), '100000');
        assert.equal(read('cpu.shares'), '1024');
        assert.equal(parentOf('cpu.shares'), '2048');
        assert.equal(read('memory.limit_in_bytes'), bytes);
      }
      assert.equal(read('pids.max'), String(96 + 1));
      assert.ok(read('cgroup.procs').split('\n').map(Number).includes(vm.pid), 'QEMU itself is in it');
    }
  });

  test("attack: a VM's QEMU, as its uid in its mount namespace, cannot open another VM's disk (controls succeed)", async () => {
    const [a, b] = vms as [Vm, Vm];
    const diskB = join(h.stateDir, 'disks', b.id, 'root.qcow2');
    const diskA = join(h.stateDir, 'disks', a.id, 'root.qcow2');
    const asUid = (uid: number, args: string[]) => ['--reuid', String(uid), '--regid', String(uid), '--clear-groups', ...args];
    // Inside A's mount namespace, as A's uid.
    // (qcow2 files start with "QFI\xfb"; the first three bytes are plain ASCII.)
    const inA = (file: string) => run('nsenter', ['-t', String(a.pid), '-m', '--', 'setpriv', ...asUid(a.uid, ['head', '-c', '3', file])]);
    assert.equal((await inA(diskA)).stdout, 'QFI', 'control: A reads its own disk from inside its view');
    await assert.rejects(inA(diskB), /No such file or directory/, "B's disk is not in A's view");
    // Even where B's disk is in view (B's own mount namespace: as if A had escaped its own), A's uid is
    // refused by the disk's owner and mode, while B's uid reads it.
    const inB = (uid: number, file: string) => run('nsenter', ['-t', String(b.pid), '-m', '--', 'setpriv', ...asUid(uid, ['head', '-c', '3', file])]);
    await assert.rejects(inB(a.uid, diskB), /Permission denied/);
    assert.equal((await inB(b.uid, diskB)).stdout, 'QFI', "control: B's uid can");
    // Nor can A's uid signal B's QEMU (a shared uid could).
    await assert.rejects(run('setpriv', asUid(a.uid, ['kill', '-0', String(b.pid)])), /Operation not permitted|not permitted/);
  });

  test("the seccomp filter is QEMU's strictest: asked to spawn a shell (exec: migration), QEMU is killed instead", async () => {
    for (const vm of vms) {
      const argv = readFileSync(`/proc/${vm.pid}/cmdline`, 'utf8').split('\0');
      assert.equal(argv[argv.indexOf('-sandbox') + 1], 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny');
      assert.ok(!argv.includes('-daemonize'));
    }
    const gone = async (pid: number) => {
      const deadline = Date.now() + 10_000;
      const alive = () => existsSync(`/proc/${pid}/stat`) && !/^\S+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return !alive();
    };
    const spawnShell = async (sock: string, marker: string) => {
      const q = await Qmp.connect(sock);
      try {
        await q.execute('migrate', { uri: `exec:touch ${marker}` }).catch(() => {});
      } finally {
        q.close();
      }
    };
    // Control: the same QMP request to a QEMU without the filter runs the shell.
    const dir = mkdtempSync(join(tmpdir(), 'fcm-spawn-'));
    const plain = spawn('qemu-system-x86_64', ['-M', 'none', '-nodefaults', '-display', 'none', '-S', '-qmp', `unix:${join(dir, 'qmp.sock')},server=on,wait=off`], { stdio: 'ignore' });
    try {
      // The socket file appears at bind(), before QEMU listens (a connect in between is refused): wait for QMP's greeting.
      await eventually('the unfiltered QEMU answers QMP', async () => (await Qmp.connect(join(dir, 'qmp.sock'))).close(), () => true, 20_000, 50);
      await spawnShell(join(dir, 'qmp.sock'), join(dir, 'spawned'));
      const seen = Date.now() + 10_000;
      while (!existsSync(join(dir, 'spawned')) && Date.now() < seen) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(join(dir, 'spawned')), 'control: an unfiltered QEMU runs the shell');
      assert.equal(plain.exitCode, null, 'and keeps running');
    } finally {
      plain.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    const b = vms[1]!;
    await spawnShell(join(h.stateDir, 'run', b.id, 'qmp.sock'), join(h.stateDir, 'run', b.id, 'sock', 'spawned'));
    assert.ok(await gone(b.pid), "the confined QEMU was killed by its filter (fork/exec is not allowed)");
  });

  test('stop and delete leave no process, cgroup, tap, disk or run dir', async () => {
    for (const vm of vms) {
      const r = await h.api('DELETE', `/v1/vms/${vm.name}`);
      assert.equal(r.status, 204, JSON.stringify(r.body));
    }
    const left = await hostLeftovers(h);
    assert.deepEqual(left, { taps: [], qemus: [], disks: [], runDirs: [] });
    const cg = cgroupDirs(`fcm-test-${h.ns.slice(5)}`).filter((d) => /\/vm_[0-9a-f]+$/.test(d));
    assert.deepEqual(cg, [], 'no VM cgroup left');
  });
});
