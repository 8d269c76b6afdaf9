/**
 * Real boot under Firecracker: the driver starts a guest from the cached
 * image, the guest agent answers GET /health on port 7611 over a tap, the
 * driver stops it gracefully, and nothing remains.
 *
 * Runs only where it can: root, a firecracker binary (FCM_FIRECRACKER_BINARY
 * or PATH) that firecrackerUsable() accepts (usable /dev/kvm), the
 * Firecracker kernel at ${FCM_CACHE_DIR:-/var/cache/fcm}/images/firecracker/vmlinux
 * (or FCM_FIRECRACKER_KERNEL) and the rootfs at .../images/current/rootfs.ext4.
 * Otherwise it skips, naming everything that is missing (allowed in
 * test/allowed-skips.txt for machines like the development one).
 *
 * Network safety: the tap lives in a network namespace this test creates
 * and deletes; the driver and the health check run inside it (this file
 * re-executes itself there with FCM_FC_BOOT_INNER). There is no link to the
 * host's network at all, no route, no NAT.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { newVmId } from '../../daemon/core/names.js';
import { planCmdline } from '../../daemon/core/planners/kernel-cmdline.js';
import type { MachineSpec } from '../../daemon/core/ports/hypervisor.js';
import { AgentGuest } from '../../daemon/drivers/agent-guest.js';
import { firecrackerId } from '../../daemon/drivers/firecracker/firecracker-config.js';
import { FirecrackerHypervisor, firecrackerUsable } from '../../daemon/drivers/firecracker/firecracker-hypervisor.js';
import { run } from '../../daemon/drivers/proc.js';
import { createLogger } from '../../daemon/log.js';

const SELF = fileURLToPath(import.meta.url);
const ROOT = join(dirname(SELF), '..', '..');
const CACHE_DIR = process.env.FCM_CACHE_DIR ?? '/var/cache/fcm';
const KERNEL = process.env.FCM_FIRECRACKER_KERNEL ?? join(CACHE_DIR, 'images', 'firecracker', 'vmlinux');
const ROOTFS = join(CACHE_DIR, 'images', 'current', 'rootfs.ext4');
const AGENT_PORT = 7611;
const GATEWAY = '172.31.255.1';
const GUEST_IP = '172.31.255.2';

interface InnerParams {
  binary: string;
  workDir: string;
  tap: string;
  rootDisk: string;
}

interface InnerResult {
  /** Sleep and wake through the snapshot API: save, stop, restore, resume, the same guest answering again. */
  wake: { saveMs: number; wakeMs: number; stateBytes: number; sameBoot: boolean };
  vmId: string;
  bootMs: number;
  stop: string;
  leftoverPids: number[];
  runDirAfterStop: string[];
  runDirExistsAfterDestroy: boolean;
  consoleTail: string;
}

/** Inside the namespace: boot, wait for the agent, stop, check. Prints one JSON line. */
async function inner(p: InnerParams): Promise<void> {
  const log = createLogger(process.env.FCM_LOG_LEVEL ?? 'warn');
  const runDir = join(p.workDir, 'run');
  const hv = new FirecrackerHypervisor({ binary: p.binary, runDir, jailer: null, logLevel: 'Info' }, log);
  const vmId = newVmId();
  const spec: MachineSpec = {
    vmId,
    vcpus: 1,
    memoryMib: 256,
    kernelPath: KERNEL,
    initrdPath: null,
    cmdline: planCmdline({
      vmId, hostname: 'fc-boot', ip: GUEST_IP, prefix: 30, gateway: GATEWAY, dns: null, agentPort: AGENT_PORT, accel: 'kvm', tscKhz: null,
    }),
    drives: [{ id: 'root', path: p.rootDisk, format: 'raw', readOnly: false }],
    net: { tap: p.tap, mac: '02:fc:00:be:ef:01' },
  };
  const consoleTail = () => {
    try {
      return readFileSync(hv.console(vmId).logPath, 'utf8').slice(-3000);
    } catch {
      return '(no console log)';
    }
  };
  const t0 = Date.now();
  try {
    await hv.start(spec);
    await new AgentGuest(AGENT_PORT).waitReady({ id: vmId, ip: GUEST_IP }, AbortSignal.timeout(120_000)).catch((e: unknown) => {
      throw new Error(`the guest agent did not answer GET http://${GUEST_IP}:${AGENT_PORT}/health within 120 s (${e instanceof Error ? e.message : String(e)})`);
    });
  } catch (e) {
    const tail = consoleTail();
    await hv.destroy(vmId).catch(() => {});
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- console ---\n${tail}`);
  }
  const bootMs = Date.now() - t0;
  // Sleep and wake (#16): a full snapshot, the process gone, then the very machine loaded and resumed.
  const bootIdOf = async () => ((await (await fetch(`http://${GUEST_IP}:${AGENT_PORT}/health`)).json()) as { bootId: string }).bootId;
  const bootBefore = await bootIdOf();
  const saved = join(p.workDir, 'saved');
  mkdirSync(saved, { recursive: true, mode: 0o700 });
  const t1 = Date.now();
  await hv.saveState(vmId, join(saved, 'state.bin'));
  const saveMs = Date.now() - t1;
  const stateBytes = statSync(join(saved, 'state.bin')).size + statSync(join(saved, 'state.bin.mem')).size;
  await hv.stop(vmId, 0);
  const t2 = Date.now();
  await hv.restore(spec, join(saved, 'state.bin'));
  await hv.resume(vmId);
  await new AgentGuest(AGENT_PORT).waitReady({ id: vmId, ip: GUEST_IP }, AbortSignal.timeout(60_000));
  const wake = { saveMs, wakeMs: Date.now() - t2, stateBytes, sameBoot: (await bootIdOf()) === bootBefore };
  const stop = await hv.stop(vmId, 60_000);
  const id = firecrackerId(vmId);
  const leftoverPids = readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0').includes(id);
      } catch {
        return false;
      }
    })
    .map(Number);
  const runDirAfterStop = readdirSync(join(runDir, vmId)).sort();
  const tail = consoleTail();
  await hv.destroy(vmId);
  const result: InnerResult = {
    vmId,
    bootMs,
    wake,
    stop,
    leftoverPids,
    runDirAfterStop,
    runDirExistsAfterDestroy: existsSync(join(runDir, vmId)),
    consoleTail: tail,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Everything missing for a real boot here (empty = can run). */
async function missingPrerequisites(): Promise<{ binary: string | null; missing: string[] }> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (to create the network namespace and tap)');
  const binary = process.env.FCM_FIRECRACKER_BINARY ?? onPath('firecracker');
  // Reports the binary and /dev/kvm together (e.g. no binary *and* a kvm_pvm /dev/kvm here).
  const probe = await firecrackerUsable(binary ?? 'firecracker');
  if (!probe.usable) missing.push(`a usable Firecracker host: ${probe.reason}`);
  if (!existsSync(KERNEL)) missing.push(`the Firecracker kernel at ${KERNEL} (an uncompressed vmlinux with VIRTIO_MMIO_CMDLINE_DEVICES)`);
  if (!existsSync(ROOTFS)) missing.push(`the rootfs at ${ROOTFS} (build it: sudo rootfs/build.sh)`);
  if (!onPath('ip')) missing.push('iproute2 (ip)');
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    missing.push('/dev/net/tun');
  }
  return { binary, missing };
}

function onPath(bin: string): string | null {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      accessSync(join(d, bin), constants.X_OK);
      return join(d, bin);
    } catch {
      /* next */
    }
  }
  return null;
}

if (process.env.FCM_FC_BOOT_INNER) {
  try {
    await inner(JSON.parse(process.env.FCM_FC_BOOT_INNER) as InnerParams);
    process.exit(0);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  }
} else {
  test('Firecracker boots a real guest', { timeout: 10 * 60_000 }, async (t) => {
    const { binary, missing } = await missingPrerequisites();
    if (missing.length || !binary) {
      const reason = `Firecracker real-boot test SKIPPED — missing: ${missing.join('; ')}`;
      t.diagnostic(reason);
      t.skip(reason);
      return;
    }

    const suffix = randomBytes(3).toString('hex');
    const ns = `fcmfc-${suffix}`;
    const tap = `fcm-fc${suffix}`;
    const workDir = join('/tmp', `fcm-fc-boot-${suffix}`);
    mkdirSync(workDir, { recursive: true, mode: 0o700 });
    await run('ip', ['netns', 'add', ns]);
    try {
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      await run('ip', ['-n', ns, 'addr', 'add', `${GATEWAY}/30`, 'dev', tap]);
      await run('ip', ['-n', ns, 'link', 'set', tap, 'up']);
      // The guest writes to its root disk: boot a sparse copy, never the cached image.
      const rootDisk = join(workDir, 'root.raw');
      await run('cp', ['--reflink=auto', '--sparse=always', ROOTFS, rootDisk], { timeoutMs: 300_000 });

      const params: InnerParams = { binary, workDir, tap, rootDisk };
      const { code, stdout, stderr } = await runInNamespace(ns, params);
      assert.equal(code, 0, `boot scenario failed inside ${ns}:\n${stderr}`);
      const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as InnerResult;
      t.diagnostic(`guest ${r.vmId} answered /health ${r.bootMs} ms after start; stop: ${r.stop}`);
      t.diagnostic(`sleep: full snapshot of ${r.wake.stateBytes} bytes in ${r.wake.saveMs} ms; wake: ${r.wake.wakeMs} ms until the agent answered`);
      assert.equal(r.wake.sameBoot, true, 'woken from the snapshot (same boot id), not booted again');
      assert.equal(r.stop, 'graceful', `SendCtrlAltDel did not shut the guest down; console:\n${r.consoleTail}`);
      assert.deepEqual(r.leftoverPids, [], 'no firecracker or console holder left after stop');
      assert.ok(
        r.runDirAfterStop.every((f) => ['console.log', 'firecracker.log', 'stderr.log', 'metrics.json'].includes(f)),
        `only logs stay after stop: ${r.runDirAfterStop}`,
      );
      assert.equal(r.runDirExistsAfterDestroy, false);
      const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean);
      assert.deepEqual(pids, [], 'nothing runs in the namespace any more');
    } finally {
      const { stdout } = await run('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
      for (const pid of stdout.split(/\s+/).filter(Boolean).map(Number)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await run('ip', ['netns', 'del', ns]).catch(() => {});
      if (!process.env.FCM_KEEP_TEST_STATE) rmSync(workDir, { recursive: true, force: true });
    }
  });
}

function runInNamespace(ns: string, params: InnerParams): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FCM_FC_BOOT_INNER: JSON.stringify(params) };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', SELF], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
