/**
 * Contract test of FirecrackerHypervisor against the upstream API spec.
 * There is no Firecracker on the development machine, so the real driver
 * runs against test/fixtures/firecracker/fake-firecracker.mjs, which
 * validates every request it receives against the vendored swagger
 * (firecracker-api.yaml, preferred so this runs on a clean checkout) and
 * plays a VM: boot banner on its stdout (= serial console), echo of stdin,
 * exit on SendCtrlAltDel. Processes are real: the console holder and the
 * fake are detached and outlive the process that started them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isFcmError } from '../../../daemon/core/errors.js';
import type { MachineSpec } from '../../../daemon/core/ports/hypervisor.js';
import { FirecrackerApi } from '../../../daemon/drivers/firecracker/firecracker-api.js';
import {
  firecrackerId,
  planBootRequests,
  planSnapshotCreate,
  planSnapshotLoad,
  planStopRequest,
  planVmState,
  PROBE_REQUEST,
  runPaths,
  snapshotFiles,
  type FcRequest,
} from '../../../daemon/drivers/firecracker/firecracker-config.js';
import { FirecrackerHypervisor, firecrackerUsable, type FirecrackerConfig } from '../../../daemon/drivers/firecracker/firecracker-hypervisor.js';
import { createLogger } from '../../../daemon/log.js';
import { createValidator, loadSpec, VENDORED_SPEC } from '../../fixtures/firecracker/spec-validator.mjs';
import { eventually } from '../../helpers/wait.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'firecracker');
const FAKE = join(FIXTURES, 'fake-firecracker.mjs');
const FAKE_JAILER = join(FIXTURES, 'fake-jailer.mjs');
const SHARED_SPEC = '/work/shared/firecracker/firecracker-api.yaml';

const log = createLogger('silent');
const validate = createValidator(loadSpec(VENDORED_SPEC));

let work = '';
let runDir = '';
let recordDir = '';
let disks = '';
let counter = 0;
const started: string[] = [];
/**
 * Ids unique to this run: processesOf() looks for a VM's processes machine-wide, so two runs of
 * this file at once (other checkouts on a shared machine) must not share ids.
 */
const runPrefix = randomBytes(3).toString('hex');

function config(extra: Partial<FirecrackerConfig> = {}): FirecrackerConfig {
  return { binary: FAKE, runDir, jailer: null, metrics: true, startTimeoutMs: 20_000, ...extra };
}

function newVmId(): string {
  counter += 1;
  const id = `vm_${runPrefix}${String(counter).padStart(6, '0')}`;
  started.push(id);
  return id;
}

function specFor(vmId: string, opts: { initrd?: boolean } = {}): MachineSpec {
  return {
    vmId,
    vcpus: 2,
    memoryMib: 256,
    kernelPath: join(disks, 'vmlinux'),
    initrdPath: opts.initrd ? join(disks, 'initrd.img') : null,
    cmdline: `console=ttyS0 reboot=k panic=-1 root=/dev/vda rw quiet fcm.vm=${vmId}`,
    drives: [
      { id: 'root', path: join(disks, 'root.raw'), format: 'raw', readOnly: false },
      { id: 'swap', path: join(disks, 'swap.raw'), format: 'raw', readOnly: false },
    ],
    net: { tap: `fcm-${vmId.slice(3, 13)}`, mac: '02:fc:00:00:00:01' },
  };
}

interface Recorded {
  method: string;
  path: string;
  body: unknown;
  operationId: string | null;
  valid: boolean;
  errors: string[];
  refused: boolean;
}

function recorded(vmId: string): Recorded[] {
  const file = join(recordDir, `${firecrackerId(vmId)}.jsonl`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Recorded);
}

/** Live (non-zombie) processes whose argv carries this VM's Firecracker id: the VMM and its holder. */
function processesOf(vmId: string): number[] {
  const id = firecrackerId(vmId);
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv.includes(id)) out.push(Number(name));
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

function processesWithArg(arg: string): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0').includes(arg);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function plannedFor(vmId: string, spec = specFor(vmId)): FcRequest[] {
  const dir = join(runDir, vmId);
  return planBootRequests(spec, { logPath: join(dir, 'firecracker.log'), logLevel: 'Warning', metricsPath: join(dir, 'metrics.json') });
}

async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

class ConsoleClient {
  private buf = '';
  private waiters: Array<() => void> = [];
  private constructor(readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('error', () => {});
  }
  static open(path: string): Promise<ConsoleClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => resolve(new ConsoleClient(s)));
      s.once('error', reject);
    });
  }
  get text(): string {
    return this.buf;
  }
  async waitFor(needle: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.buf.includes(needle)) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`console never showed ${JSON.stringify(needle)}; got ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  close(): void {
    this.sock.destroy();
  }
}

describe('FirecrackerHypervisor contract (fake firecracker validating against the upstream spec)', () => {
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'fcm-fc-contract-'));
    runDir = join(work, 'run');
    recordDir = join(work, 'records');
    disks = join(work, 'disks');
    for (const d of [runDir, recordDir, disks]) mkdirSync(d, { recursive: true });
    for (const f of ['vmlinux', 'initrd.img', 'root.raw', 'swap.raw']) writeFileSync(join(disks, f), 'x');
    process.env.FAKE_FC_RECORD_DIR = recordDir;
  });

  after(async () => {
    const hv = new FirecrackerHypervisor(config(), log);
    for (const id of started) await hv.destroy(id).catch(() => {});
    delete process.env.FAKE_FC_RECORD_DIR;
    rmSync(work, { recursive: true, force: true });
  });

  test('the vendored spec is used and the validator really rejects bad requests', async (t) => {
    if (existsSync(SHARED_SPEC) && readFileSync(SHARED_SPEC, 'utf8') !== readFileSync(VENDORED_SPEC, 'utf8')) {
      t.diagnostic(`note: ${SHARED_SPEC} differs from the vendored copy; the vendored one is what this suite checks`);
    }
    assert.equal(validate('PUT', '/machine-config', JSON.stringify({ vcpu_count: 2, mem_size_mib: 256, smt: false })).ok, true);
    const wrongType = validate('PUT', '/machine-config', JSON.stringify({ vcpu_count: '2', mem_size_mib: 256 }));
    assert.equal(wrongType.ok, false);
    assert.match(wrongType.errors.join(), /vcpu_count must be integer/);
    assert.equal(validate('PUT', '/machine-config', JSON.stringify({ mem_size_mib: 256 })).ok, false, 'missing required vcpu_count');
    assert.equal(validate('PUT', '/drives/root', JSON.stringify({ drive_id: 'root', is_root_device: true, is_readonly: true })).ok, false, 'misspelt field');
    assert.equal(validate('PUT', '/actions', JSON.stringify({ action_type: 'Shutdown' })).ok, false, 'unknown action');
    assert.equal(validate('PUT', '/actions', '').ok, false, 'required body');
    assert.equal(validate('DELETE', '/drives/root', '').ok, false, 'method not in spec');
    assert.equal(validate('PUT', '/reboot', '{}').ok, false, 'path not in spec');
    assert.equal(validate('PUT', '/boot-source', '{"kernel_image_path": ').ok, false, 'not JSON');

    // Through the real fake and the driver's client: a malformed body is a 400 with fault_message → hypervisor_failed.
    const sock = join(work, 'negative.sock');
    const fake = spawn(FAKE, ['--api-sock', sock, '--id', 'negative-check'], { stdio: 'ignore', env: process.env });
    try {
      const api = new FirecrackerApi(sock, 5000);
      const deadline = Date.now() + 10_000;
      while (!existsSync(sock)) {
        if (Date.now() > deadline) assert.fail('fake firecracker did not create its socket');
        await new Promise((r) => setTimeout(r, 20));
      }
      await retry(() => api.send(PROBE_REQUEST));
      await assert.rejects(
        api.send({ method: 'PUT', path: '/machine-config', body: { vcpu_count: '2', mem_size_mib: 256 } }),
        (e: unknown) => isFcmError(e, 'hypervisor_failed') && /rejected with 400: .*vcpu_count must be integer/.test(e.message),
      );
      const rec = readFileSync(join(recordDir, 'negative-check.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Recorded);
      assert.equal(rec.at(-1)?.valid, false);
    } finally {
      fake.kill('SIGKILL');
    }
  });

  test('every request the planner can produce is valid per the spec (golden plan, direct and jailed)', () => {
    const golden = JSON.parse(readFileSync(join(FIXTURES, 'plan.golden.json'), 'utf8')) as {
      boot: FcRequest[];
      stop: FcRequest;
      jailed: { boot: FcRequest[] };
    };
    for (const r of [...golden.boot, golden.stop, ...golden.jailed.boot, PROBE_REQUEST, planStopRequest()]) {
      const v = validate(r.method, r.path, r.body === undefined ? '' : JSON.stringify(r.body));
      assert.ok(v.ok, `${r.method} ${r.path}: ${v.errors.join('; ')}`);
    }
  });

  let vmA = '';
  const hv = () => new FirecrackerHypervisor(config(), log);

  test('start: every request valid and in the planned order; running with a verified pid', async () => {
    vmA = newVmId();
    const spec = specFor(vmA, { initrd: true });
    const st = await hv().start(spec);
    assert.equal(st.running, true);
    assert.ok(st.pid && st.pid > 0);
    const recs = recorded(vmA);
    const bad = recs.filter((r) => !r.valid);
    assert.deepEqual(bad, [], 'the fake rejected requests');
    const planned = [PROBE_REQUEST, ...plannedFor(vmA, spec)];
    assert.deepEqual(
      recs.map((r) => `${r.method} ${r.path}`),
      planned.map((r) => `${r.method} ${r.path}`),
    );
    assert.deepEqual(recs.map((r) => r.body ?? undefined), planned.map((r) => r.body));
    assert.equal(recs.at(-1)?.operationId, 'createSyncAction');
    assert.deepEqual(recs.at(-1)?.body, { action_type: 'InstanceStart' });
    assert.equal(statSync(join(runDir, vmA)).mode & 0o777, 0o700);
    assert.deepEqual(await hv().status(vmA), st);
    assert.ok((await hv().list()).includes(vmA));
    await assert.rejects(hv().start(spec), (e: unknown) => isFcmError(e, 'hypervisor_failed') && /already running/.test(e.message));
  });

  test('console: boot output in the log, live bytes over the socket, several clients over time', async () => {
    const ep = hv().console(vmA);
    assert.equal(ep.socketPath, join(runDir, vmA, 'console.sock'));
    // The boot banner reaches console.log asynchronously after start() returned.
    await waitUntil(() => readFileSync(ep.logPath, 'utf8').includes('fcm fake guest ready'), 'the boot banner in console.log');
    const logText = readFileSync(ep.logPath, 'utf8');
    assert.match(logText, /Linux version 6\.1\.0-fake/);
    assert.match(logText, /fcm fake guest ready/);
    assert.match(logText, /pci=off/, 'the guest saw the planned boot args');
    const a = await ConsoleClient.open(ep.socketPath);
    const b = await ConsoleClient.open(ep.socketPath);
    a.sock.write('echo-one\r\n');
    await a.waitFor('echo-one');
    await b.waitFor('echo-one');
    a.close();
    const c = await ConsoleClient.open(ep.socketPath);
    c.sock.write('echo-two\r\n');
    await c.waitFor('echo-two');
    await b.waitFor('echo-two');
    assert.ok(!c.text.includes('echo-one'), 'a new client gets live bytes, not a replay (scrollback is the log)');
    b.close();
    c.close();
    await waitUntil(() => readFileSync(ep.logPath, 'utf8').includes('echo-two'), 'console.log has the echoed input');
  });

  test('stop: graceful via SendCtrlAltDel, then absent; nothing runs, runtime files gone, logs kept', async () => {
    const before = processesOf(vmA);
    assert.equal(before.length, 2, `firecracker and its console holder run (${before})`);
    assert.equal(await hv().stop(vmA, 10_000), 'graceful');
    assert.deepEqual(processesOf(vmA), []);
    assert.deepEqual(await hv().status(vmA), { running: false, pid: null });
    const left = readdirSync(join(runDir, vmA)).sort();
    assert.deepEqual(left, ['console.log', 'firecracker.log', 'metrics.json', 'stderr.log']);
    assert.match(readFileSync(join(runDir, vmA, 'console.log'), 'utf8'), /reboot: Restarting system/, 'console drained before the holder exited');
    assert.ok(recorded(vmA).some((r) => r.valid && JSON.stringify(r.body) === JSON.stringify(planStopRequest().body)));
    assert.equal(await hv().stop(vmA, 10_000), 'absent');
  });

  test('restart after stop reuses the run dir and appends to the console log', async () => {
    const st = await hv().start(specFor(vmA));
    assert.equal(st.running, true);
    // start() returns once the machine runs; the guest's greeting reaches the log a moment later.
    await eventually('the second boot greeting is appended to the first', async () => readFileSync(join(runDir, vmA, 'console.log'), 'utf8').match(/fcm fake guest ready/g)?.length ?? 0, (n) => n >= 2, 15_000, 50);
    assert.equal(readFileSync(join(runDir, vmA, 'console.log'), 'utf8').match(/fcm fake guest ready/g)?.length, 2);
    assert.equal(await hv().stop(vmA, 10_000), 'graceful');
  });

  test('the VM and its console survive the daemon: started by another process, adopted by a new driver', async () => {
    const vmB = newVmId();
    const out = await runNode([join(FIXTURES, 'start-vm.ts'), JSON.stringify({ config: config(), spec: specFor(vmB) })]);
    const first = JSON.parse(out) as { running: boolean; pid: number; daemonPid: number };
    assert.equal(first.running, true);
    // The starting "daemon" has exited; a fresh driver instance adopts the VM from the run dir.
    const adopted = new FirecrackerHypervisor(config(), log);
    assert.deepEqual(await adopted.status(vmB), { running: true, pid: first.pid });
    const cl = await ConsoleClient.open(adopted.console(vmB).socketPath);
    cl.sock.write('after-restart\r\n');
    await cl.waitFor('after-restart');
    cl.close();
    assert.equal(await adopted.stop(vmB, 10_000), 'graceful');
    assert.deepEqual(processesOf(vmB), []);
  });

  test('the console holder keeps console.log under its cap while the guest floods its console, ending with the newest output', async () => {
    const vmL = newVmId();
    const capped = new FirecrackerHypervisor(config({ consoleLogMaxBytes: 8192 }), log);
    await capped.start(specFor(vmL));
    const ep = capped.console(vmL);
    const cl = await ConsoleClient.open(ep.socketPath);
    // The fake guest echoes its input: 64 × 1 KiB through the serial console, then a marker.
    for (let i = 0; i < 64; i++) cl.sock.write(`${String(i).padStart(4, '0')}${'z'.repeat(1019)}\r\n`);
    cl.sock.write('flood-done\r\n');
    await cl.waitFor('flood-done');
    cl.close();
    await waitUntil(() => readFileSync(ep.logPath, 'utf8').includes('flood-done'), 'console.log has the newest output');
    assert.ok(statSync(ep.logPath).size <= 8192, `console.log is ${statSync(ep.logPath).size} bytes`);
    assert.match(readFileSync(ep.logPath, 'utf8'), /0063z+\r?\n/, 'the last flood line is kept');
    assert.equal(await capped.stop(vmL, 10_000), 'graceful');
  });

  test('stop is forced when the guest ignores Ctrl-Alt-Del; timeout 0 forces at once', async () => {
    const vmC = newVmId();
    await withEnv({ FAKE_FC_IGNORE_CTRL_ALT_DEL: '1' }, () => hv().start(specFor(vmC)));
    const t0 = Date.now();
    assert.equal(await hv().stop(vmC, 300), 'forced');
    assert.ok(Date.now() - t0 < 8000);
    assert.deepEqual(processesOf(vmC), []);
    assert.deepEqual(await hv().status(vmC), { running: false, pid: null });

    const vmC2 = newVmId();
    await hv().start(specFor(vmC2));
    assert.equal(await hv().stop(vmC2, 0), 'forced');
    assert.deepEqual(processesOf(vmC2), []);
    assert.ok(!recorded(vmC2).some((r) => r.path === '/actions' && JSON.stringify(r.body).includes('SendCtrlAltDel')), 'no graceful attempt');
  });

  test('a refused request fails start with hypervisor_failed and leaves no process or run files', async () => {
    const vmD = newVmId();
    await withEnv({ FAKE_FC_FAIL_ON: 'PUT /drives' }, async () => {
      await assert.rejects(
        hv().start(specFor(vmD)),
        (e: unknown) => isFcmError(e, 'hypervisor_failed') && /PUT \/drives\/root: rejected with 400: .*FAKE_FC_FAIL_ON/.test(e.message),
      );
    });
    const recs = recorded(vmD);
    assert.deepEqual(recs.at(-1)?.path, '/drives/root');
    assert.equal(recs.at(-1)?.refused, true);
    assert.ok(recs.every((r) => r.valid), 'everything sent before the refusal was valid');
    assert.deepEqual(processesOf(vmD), []);
    assert.equal(existsSync(join(runDir, vmD)), false, 'run dir removed');
    assert.ok(!(await hv().list()).includes(vmD));
  });

  test('a VMM that dies at once fails start fast, reporting what it printed', async () => {
    const vmE = newVmId();
    const t0 = Date.now();
    await withEnv({ FAKE_FC_EXIT_AT_START: 'Error: Kvm(OpenDevice(Os { code: 2 })) (fake)' }, async () => {
      await assert.rejects(
        hv().start(specFor(vmE)),
        (e: unknown) => isFcmError(e, 'hypervisor_failed') && /exited before its API socket appeared.*Kvm\(OpenDevice/.test(e.message),
      );
    });
    assert.ok(Date.now() - t0 < 10_000, 'did not wait for the start timeout');
    assert.deepEqual(processesOf(vmE), []);
    assert.equal(existsSync(join(runDir, vmE)), false);
  });

  test('an API socket that never answers times out with hypervisor_failed and cleans up', async () => {
    const vmF = newVmId();
    // A "firecracker" that never serves its API: the holder runs it, start() must give up.
    const silent = join(work, 'silent-firecracker');
    // It execs into something without the instance id in its argv, so only the holder knows its pid:
    // cleanup must go through the holder (SIGTERM → it kills its child) for nothing to survive.
    writeFileSync(silent, '#!/bin/sh\necho "fake: stuck before the API" >&2\nexec sleep 31.4159\n', { mode: 0o755 });
    // 5 s, not less: the holder is a Node process, and on a loaded 2-core machine it takes ~2 s to start the child.
    const quick = new FirecrackerHypervisor(config({ binary: silent, startTimeoutMs: 5000 }), log);
    await assert.rejects(
      quick.start(specFor(vmF)),
      (e: unknown) => isFcmError(e, 'hypervisor_failed') && /did not answer within 5000 ms.*stuck before the API/.test(e.message),
    );
    assert.deepEqual(processesOf(vmF), []);
    assert.deepEqual(processesWithArg('31.4159'), [], 'the unidentifiable child was killed by its holder');
    assert.equal(existsSync(join(runDir, vmF)), false);
  });

  test('a spec Firecracker cannot run fails before anything is spawned', async () => {
    const vmG = newVmId();
    const spec = specFor(vmG);
    await assert.rejects(
      hv().start({ ...spec, drives: spec.drives.map((d) => ({ ...d, format: 'qcow2' as const })) }),
      (e: unknown) => isFcmError(e, 'hypervisor_failed') && /raw/.test(e.message),
    );
    assert.equal(existsSync(join(runDir, vmG)), false);
    assert.deepEqual(recorded(vmG), []);
  });

  test('destroy removes everything and is idempotent; stop of an unknown VM is absent', async () => {
    const vmH = newVmId();
    await hv().start(specFor(vmH));
    await hv().destroy(vmH);
    assert.deepEqual(processesOf(vmH), []);
    assert.equal(existsSync(join(runDir, vmH)), false);
    await hv().destroy(vmH);
    assert.equal(await hv().stop('vm_00000000dead', 1000), 'absent');
  });

  test('snapshot requests (pause, full create, load with the tap named and kvmclock advanced, resume) are valid per the spec', () => {
    const direct = snapshotFiles(runPaths(runDir, 'vm_0123456789ab', FAKE, null), '/x/saved/sleep/state.bin');
    assert.deepEqual(direct, { vmstate: { vmm: '/x/saved/sleep/state.bin', host: '/x/saved/sleep/state.bin' }, memory: { vmm: '/x/saved/sleep/state.bin.mem', host: '/x/saved/sleep/state.bin.mem' } });
    const jailed = snapshotFiles(runPaths(runDir, 'vm_0123456789ab', '/usr/bin/firecracker', { binary: FAKE_JAILER, uid: 1, gid: 1, chrootBase: '/jail', cgroups: null }), '/x/state.bin');
    assert.equal(jailed.vmstate.vmm, '/snapshot.vmstate', 'jailed: a path inside the chroot');
    for (const r of [planVmState('Paused'), planVmState('Resumed'), planSnapshotCreate(direct), planSnapshotLoad(direct, 'fcm-0123456789'), planSnapshotLoad(jailed, null)]) {
      const v = validate(r.method, r.path, JSON.stringify(r.body));
      assert.ok(v.ok, `${r.method} ${r.path}: ${v.errors.join('; ')}`);
    }
    assert.equal(validate('PUT', '/snapshot/create', JSON.stringify({ snapshot_path: '/a' })).ok, false, 'the validator knows mem_file_path is required');
    assert.equal(validate('PATCH', '/vm', JSON.stringify({ state: 'Sleeping' })).ok, false);
  });

  test('sleep and wake: saveState pauses and writes a full snapshot (0600, root-owned); restore loads it into a fresh Firecracker, paused until resume; launchedSpec is the machine', async () => {
    const vm = newVmId();
    const spec = specFor(vm);
    await hv().start(spec);
    await waitUntil(() => readFileSync(hv().console(vm).logPath, 'utf8').includes('fcm fake guest ready'), 'boot banner');
    assert.deepEqual(await hv().launchedSpec(vm), spec);
    const saved = join(work, 'saved', vm);
    mkdirSync(saved, { recursive: true, mode: 0o700 });
    const statePath = join(saved, 'state.bin');
    const before = recorded(vm).length;
    await hv().saveState(vm, statePath);
    const save = recorded(vm).slice(before);
    assert.deepEqual(save.filter((r) => !r.valid), [], 'the fake rejected requests');
    assert.deepEqual(save.map((r) => `${r.method} ${r.path} ${r.operationId}`), ['PATCH /vm patchVm', 'PUT /snapshot/create createSnapshot']);
    assert.deepEqual(save.map((r) => r.body), [planVmState('Paused').body, planSnapshotCreate(snapshotFiles(runPaths(runDir, vm, FAKE, null), statePath)).body]);
    for (const f of [statePath, `${statePath}.mem`]) {
      assert.equal(statSync(f).mode & 0o777, 0o600);
      assert.equal(statSync(f).uid, process.getuid?.() === 0 ? 0 : statSync(f).uid);
    }
    assert.equal(await hv().stop(vm, 0), 'forced');
    assert.equal(await hv().launchedSpec(vm), null, 'nothing runs');

    const mark = recorded(vm).length;
    const st = await hv().restore(spec, statePath);
    assert.equal(st.running, true);
    const load = recorded(vm).slice(mark);
    assert.deepEqual(load.filter((r) => !r.valid), []);
    assert.deepEqual(load.map((r) => `${r.method} ${r.path}`), ['GET /', 'PUT /logger', 'PUT /metrics', 'PUT /snapshot/load'], 'no boot configuration: the machine comes from the snapshot');
    assert.deepEqual(load.at(-1)?.body, planSnapshotLoad(snapshotFiles(runPaths(runDir, vm, FAKE, null), statePath), spec.net.tap).body);
    assert.deepEqual(await hv().launchedSpec(vm), spec);
    await hv().waitConsole(vm, 'restored from snapshot (2 vCPU, 256 MiB', 10_000);
    const cl = await ConsoleClient.open(hv().console(vm).socketPath);
    cl.sock.write('while-paused\r\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!cl.text.includes('while-paused'), 'paused until resume');
    await hv().resume(vm);
    assert.equal(recorded(vm).at(-1)?.operationId, 'patchVm');
    assert.deepEqual(recorded(vm).at(-1)?.body, { state: 'Resumed' });
    cl.sock.write('after-resume\r\n');
    await cl.waitFor('after-resume');
    cl.close();
    await assert.rejects(hv().waitConsole(vm, 'never printed', 300), (e: unknown) => isFcmError(e, 'hypervisor_failed'));
    assert.equal(await hv().stop(vm, 10_000), 'graceful');
    // A corrupt save fails the restore with hypervisor_failed and leaves nothing running (the daemon then cold-boots).
    writeFileSync(statePath, 'not a snapshot');
    await assert.rejects(hv().restore(spec, statePath), (e: unknown) => isFcmError(e, 'hypervisor_failed'));
    assert.deepEqual(processesOf(vm), []);
  });

  test('sleep and wake through the jailer: the snapshot is written in the chroot, moved out, and linked back in for the load', { skip: process.getuid?.() === 0 ? false : 'needs root: the driver chowns the jail files to the jail uid' }, async () => {
    const jailer = { binary: FAKE_JAILER, uid: 64125, gid: 64126, chrootBase: join(work, 'jail'), cgroups: null };
    const jailed = new FirecrackerHypervisor(config({ jailer }), log);
    const vm = newVmId();
    const spec = specFor(vm);
    await jailed.start(spec);
    const saved = join(work, 'saved', vm);
    mkdirSync(saved, { recursive: true, mode: 0o700 });
    const statePath = join(saved, 'state.bin');
    await jailed.saveState(vm, statePath);
    const create = recorded(vm).find((r) => r.path === '/snapshot/create');
    assert.deepEqual(create?.body, { snapshot_type: 'Full', snapshot_path: '/snapshot.vmstate', mem_file_path: '/snapshot.mem' });
    for (const f of [statePath, `${statePath}.mem`]) assert.deepEqual([statSync(f).uid, statSync(f).mode & 0o777], [0, 0o600], `${f} moved out, root's`);
    await jailed.stop(vm, 0);
    await jailed.restore(spec, statePath);
    const loadReq = recorded(vm).filter((r) => r.path === '/snapshot/load').at(-1);
    assert.equal(loadReq?.valid, true, JSON.stringify(loadReq?.errors));
    assert.equal((loadReq?.body as { snapshot_path: string }).snapshot_path, '/snapshot.vmstate');
    await jailed.resume(vm);
    assert.equal(await jailed.stop(vm, 10_000), 'graceful');
    assert.ok(existsSync(statePath), 'the save itself stays (the daemon drops it)');
  });

  test('through the jailer: its argv keeps the jailer contract, jail files belong to the jail uid, the jail goes on stop', { skip: process.getuid?.() === 0 ? false : 'needs root: the driver chowns the jail files to the jail uid' }, async () => {
    const jailer = { binary: FAKE_JAILER, uid: 64123, gid: 64124, chrootBase: join(work, 'jail'), cgroups: { version: 2 as const, parent: 'fcm-contract', overheadMib: 64 } };
    const jailed = new FirecrackerHypervisor(config({ jailer }), log);
    const vm = newVmId();
    const spec = specFor(vm, { initrd: true });
    const st = await jailed.start(spec);
    assert.equal(st.running, true);
    const rec = JSON.parse(readFileSync(join(recordDir, `${firecrackerId(vm)}.jailer.json`), 'utf8')) as { opts: Record<string, unknown>; forwarded: string[]; chroot: string; errors: string[] };
    assert.deepEqual(rec.errors, [], 'the fake jailer accepted the arguments');
    assert.equal(rec.opts.uid, '64123');
    assert.equal(rec.opts.gid, '64124');
    assert.equal(rec.opts['cgroup-version'], '2');
    assert.equal(rec.opts['parent-cgroup'], 'fcm-contract');
    assert.deepEqual(rec.opts.cgroup, ['cpu.max=200000 100000', 'cpu.weight=200', `memory.max=${(256 + 64) * 1024 * 1024}`, 'pids.max=98']);
    assert.deepEqual(rec.forwarded, ['--api-sock', '/api.sock']);
    assert.equal(rec.chroot, join(work, 'jail', 'fake-firecracker.mjs', firecrackerId(vm), 'root'));
    // Every request the jailed Firecracker got is valid per the spec and names files inside the jail.
    const recs = recorded(vm);
    assert.deepEqual(recs.filter((r) => !r.valid), []);
    const drives = recs.filter((r) => r.path.startsWith('/drives/')).map((r) => (r.body as { path_on_host: string }).path_on_host);
    assert.deepEqual(drives, ['/drive-root', '/drive-swap']);
    assert.equal(statSync(join(rec.chroot, 'drive-root')).uid, 64123);
    const cl = await ConsoleClient.open(jailed.console(vm).socketPath);
    cl.sock.write('jailed-echo\r\n');
    await cl.waitFor('jailed-echo');
    cl.close();
    assert.equal(await jailed.stop(vm, 10_000), 'graceful');
    assert.deepEqual(processesOf(vm), []);
    assert.equal(existsSync(join(work, 'jail', 'fake-firecracker.mjs', firecrackerId(vm))), false, 'the jail is removed');
    // The fake can refuse: argv that breaks the jailer contract exits 1 with the reasons.
    const refuse = async (args: string[], why: RegExp) => {
      const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
        const c = spawn(FAKE_JAILER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.on('exit', (code) => resolve({ code, err }));
      });
      assert.equal(r.code, 1, `refused: ${args.join(' ')}`);
      assert.match(r.err, why);
    };
    const ok = ['--id', 'fcm-vm-1', '--exec-file', FAKE, '--uid', '1', '--gid', '1', '--chroot-base-dir', join(work, 'jail')];
    await refuse(['--id', 'vm_1', ...ok.slice(2)], /invalid --id/);
    await refuse(ok.filter((a, i) => a !== '--uid' && ok[i - 1] !== '--uid'), /--uid is required/);
    await refuse([...ok, '--cgroup', 'cpu.max'], /<cgroup_file>=<value>/);
    await refuse([...ok, '--resource-limit', 'nofile=1'], /fsize\|no-file/);
    await refuse([...ok, '--', '--id', 'x'], /passes it to Firecracker itself/);
    await assert.rejects(
      new FirecrackerHypervisor(config({ binary: '/bin/true', jailer }), log).start(specFor(newVmId())),
      (e: unknown) => isFcmError(e, 'hypervisor_failed') && /name contains "firecracker"/.test(e.message),
    );
  });

  test('firecrackerUsable: recognises the binary by --version and explains what is missing', async () => {
    const missing = await firecrackerUsable(join(work, 'no-such-firecracker'));
    assert.equal(missing.usable, false);
    assert.match(missing.reason, /no-such-firecracker does not exist/);
    const notFc = await firecrackerUsable('/bin/true');
    assert.match(notFc.reason, /did not print a Firecracker version/);
    const fake = await firecrackerUsable(FAKE);
    assert.doesNotMatch(fake.reason, /binary|--version/, 'the fake passes the binary checks');
    if (!fake.usable) assert.match(fake.reason, /kvm/i, 'on this machine only KVM is the problem');
  });
});

async function retry<T>(fn: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function waitUntil(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function runNode(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}: ${err}`))));
  });
}
