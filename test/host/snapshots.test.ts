/**
 * Issue 9's fast path for real: VMs of the default shape are restored from a
 * snapshot of a pre-booted template (warm pool or on demand) and must be
 * indistinguishable from cold-booted ones, yet distinct from each other.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../daemon/drivers/proc.js';
import { after, before, describe, test } from 'node:test';
import { tapForVm } from '../../daemon/core/planners/network-plan.js';
import { ConsoleWs, runInConsole } from '../helpers/console-ws.js';
import { hostLeftovers, hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { eventually } from '../helpers/wait.js';

const skip = hostSkipReason();

async function waitForLog(h: HostHarness, text: string, withinMs: number): Promise<void> {
  await eventually(`daemon log says "${text}"`, async () => readFileSync(h.logPath, 'utf8').includes(text), (seen) => seen, withinMs);
}

/** The daemon's log lines (JSON) whose msg is `msg`. */
function logLines(h: HostHarness, msg: string): Record<string, unknown>[] {
  return readFileSync(h.logPath, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function identityOf(h: HostHarness, name: string) {
  const c = await ConsoleWs.open(`${h.url}/v1/vms/${name}/console`, { token: h.token });
  try {
    c.send('\r');
    const out = await runInConsole(
      c,
      'echo "host=$(hostname) mid=$(cat /etc/machine-id) mac=$(cat /sys/class/net/eth0/address) ip=$(ip -4 -o addr show eth0 | tr -s " " | cut -d" " -f4) rnd=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \\n")"',
    );
    const m = /host=(\S+) mid=(\S+) mac=(\S+) ip=(\S+) rnd=(\S+)/.exec(out);
    assert.ok(m, `no identity line in ${JSON.stringify(out)}`);
    return { host: m[1]!, machineId: m[2]!, mac: m[3]!, ip: m[4]!, random: m[5]! };
  } finally {
    c.close();
  }
}

describe('create from a snapshot', { skip: skip ?? false }, () => {
  let h: HostHarness;
  before(async () => {
    h = await startHostHarness({ env: { FCM_SNAPSHOTS: 'true', FCM_SNAPSHOT_POOL: '1', FCM_QEMU_RESTORE_TB_MIB: '32' } });
    await waitForLog(h, 'warm pool: machine ready', 300_000);
  });
  after(async () => {
    await h?.close();
  });

  test('two VMs restored from one template are running, reachable, and each is its own machine', async () => {
    const started = Date.now();
    const a = await h.api('POST', '/v1/vms', { name: 'snap-a' });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal((await h.api('GET', '/v1/vms/snap-a/wait?state=running&timeout=60')).status, 200);
    const aMs = Date.now() - started;
    // The second comes from an on-demand restore or the refilled pool — either way the same template.
    const b = await h.api('POST', '/v1/vms', { name: 'snap-b' });
    assert.equal((await h.api('GET', '/v1/vms/snap-b/wait?state=running&timeout=60')).status, 200);
    const log = readFileSync(h.logPath, 'utf8');
    assert.match(log, /"vm":"snap-a"[^\n]*"boot":"(pool|restore)"/, 'snap-a was restored, not booted');
    assert.match(log, /"vm":"snap-b"[^\n]*"boot":"(pool|restore)"/, 'snap-b was restored, not booted');

    for (const vm of [a.body, b.body]) {
      // `running` means the agent answered; the web port may take a moment longer. Poll until it
      // answers, then it must answer as this VM (a restored machine must not serve the template's name).
      const page = await eventually(`${vm.name} :8000`, () => h.exec('curl', ['-sS', '--fail', '--max-time', '10', `http://${vm.ip}:8000/`]), () => true, 60_000, 250);
      assert.match(page.stdout, new RegExp(vm.name), `${vm.name}'s web port answers as itself`);
    }
    const ia = await identityOf(h, 'snap-a');
    const ib = await identityOf(h, 'snap-b');
    assert.deepEqual([ia.host, ia.mac, ia.ip], ['snap-a', a.body.mac, `${a.body.ip}/24`]);
    assert.deepEqual([ib.host, ib.mac, ib.ip], ['snap-b', b.body.mac, `${b.body.ip}/24`]);
    assert.notEqual(ia.machineId, ib.machineId, 'distinct machine-ids');
    assert.notEqual(ia.random, ib.random, 'distinct random streams (the CRNG was reseeded)');
    console.log(`# snap-a create → running: ${aMs} ms`);
  });

  test("restored VMs read the template's RAM from one sealed image copy-on-write, and what each writes stays its own", async () => {
    const vms = await Promise.all(['snap-a', 'snap-b'].map(async (n) => (await h.api('GET', `/v1/vms/${n}`)).body as { id: string; name: string }));
    const ram = vms.map((vm) => {
      const pid = Number(readFileSync(join(h.stateDir, 'run', vm.id, 'qemu.pid'), 'utf8'));
      // The guest RAM mapping: a private (p) view of the template image's memfd.
      const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
      const at = smaps.search(/^[0-9a-f]+-[0-9a-f]+ rw-p \S+ \S+ \d+\s+\/memfd:fcm-template-ram/m);
      assert.ok(at >= 0, `${vm.name}'s QEMU maps the template RAM image privately:\n${smaps.split('\n').filter((l) => /^[0-9a-f]+-/.test(l)).slice(0, 40).join('\n')}`);
      const block = smaps.slice(at).split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)[0]!;
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(block)![1]);
      return { pid, inode: block.split('\n')[0]!.split(/\s+/)[4], rss: kb('Rss'), shared: kb('Shared_Clean') + kb('Shared_Dirty'), pss: kb('Pss') };
    });
    assert.equal(ram[0]!.inode, ram[1]!.inode, 'both map the same image');
    for (const r of ram) {
      // A clone's own memory: the restore's translation cache (set to 32 MiB in this test's daemon, not the template boot's 64) and no huge pages (qemu-argv.ts, planProcessFlags).
      assert.ok(readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').split('\0').includes('tcg,tb-size=32'), 'a clone runs with the restore cache size');
      assert.match(readFileSync(`/proc/${r.pid}/status`, 'utf8'), /^THP_enabled:\s+0$/m, 'a clone runs without transparent huge pages');
      assert.equal(/^AnonHugePages:\s+(\d+) kB/m.exec(readFileSync(`/proc/${r.pid}/smaps_rollup`, 'utf8'))![1], '0', 'and holds none');
    }
    for (const r of ram) {
      // Of /proc, its sandbox shows only its own fd directory; the template's files never enter it.
      const mounts = readFileSync(`/proc/${r.pid}/mountinfo`, 'utf8').trim().split('\n').map((l) => l.split(' ')[4]!);
      assert.deepEqual(mounts.filter((m) => m.startsWith('/proc')), ['/proc/self/fd'], mounts.join(' '));
      assert.deepEqual(mounts.filter((m) => m.endsWith('/ram.raw') || m.endsWith('/state.bin')), []);
    }
    for (const r of ram) {
      assert.ok(r.shared > 0, `pages of the image are mapped by both clones: ${JSON.stringify(ram)}`);
      assert.ok(r.pss < r.rss, `so each is charged less than it maps: ${JSON.stringify(ram)}`);
    }
    // The image is immutable for everyone, root included (its seals), though QEMU opened it read-write.
    const probe = await run('python3', ['-c', [
      'import os, sys',
      `fd = os.open("/proc/${ram[0]!.pid}/fd/4", os.O_RDWR)`,
      'assert os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:fcm-template-ram"), os.readlink(f"/proc/self/fd/{fd}")',
      'for what, f in (("write", lambda: os.pwrite(fd, b"x", 0)), ("truncate", lambda: os.ftruncate(fd, 0))):',
      '    try:',
      '        f(); print(what, "allowed")',
      '    except PermissionError:',
      '        print(what, "refused")',
    ].join('\n')]);
    assert.equal(probe.stdout, 'write refused\ntruncate refused\n');
    // Guest memory writes stay private: a file in one clone's RAM (tmpfs) is not in the other's.
    const marker = `m${Math.random().toString(36).slice(2)}`;
    const shell = async (name: string, cmd: string) => {
      const c = await ConsoleWs.open(`${h.url}/v1/vms/${name}/console`, { token: h.token });
      try {
        c.send('\r');
        return await runInConsole(c, cmd);
      } finally {
        c.close();
      }
    };
    await shell('snap-a', `echo ${marker} > /dev/shm/private && cat /dev/shm/private`);
    assert.match(await shell('snap-a', 'cat /dev/shm/private'), new RegExp(marker));
    assert.match(await shell('snap-b', 'cat /dev/shm/private 2>&1 || echo absent-here'), /absent-here/);
    assert.doesNotMatch(await shell('snap-b', 'cat /dev/shm/private 2>&1; true'), new RegExp(marker));
    // Asleep, a clone's save holds all of its RAM; woken, it runs in memory of its own, no longer the template's.
    const slept = await h.api('POST', '/v1/vms/snap-a/sleep');
    assert.equal(slept.body.state, 'sleeping', JSON.stringify(slept.body));
    const start = await h.api('POST', '/v1/vms/snap-a/start');
    assert.ok(start.status < 300, JSON.stringify(start.body));
    const woken = (await h.api('GET', '/v1/vms/snap-a/wait?state=running&timeout=120')).body;
    assert.equal(woken.lastError, null, 'restored from its save, not cold-booted');
    assert.match(await shell('snap-a', 'cat /dev/shm/private'), new RegExp(marker), 'its memory as it was');
    const pid = Number(readFileSync(join(h.stateDir, 'run', woken.id, 'qemu.pid'), 'utf8'));
    assert.doesNotMatch(readFileSync(`/proc/${pid}/maps`, 'utf8'), /fcm-template-ram/);
  });

  test('a restored VM serves a git push deploy like a booted one', async () => {
    const vm = (await h.api('GET', '/v1/vms/snap-b')).body;
    const work = mkdtempSync('/tmp/fcm-snap-app-');
    try {
      writeFileSync(join(work, 'app.py'), 'import os\nfrom http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\nclass A(BaseHTTPRequestHandler):\n    def do_GET(self):\n        b = b"deployed on a restored VM\\n"\n        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)\nThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), A).serve_forever()\n');
      writeFileSync(join(work, 'requirements.txt'), '# stdlib only\n');
      writeFileSync(join(work, 'Procfile'), 'web: python3 app.py\n');
      const env = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com', GIT_TERMINAL_PROMPT: '0' };
      for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-qm', 'v1']]) await run('git', ['-C', work, ...args], { env });
      const push = await run('git', ['-C', work, 'push', vm.gitHttpUrl.replace('://', `://fcm:${h.token}@`), 'HEAD:main'], { env, timeoutMs: 300_000 });
      assert.match(push.stderr, /Detected Python \(requirements\.txt\)/);
      assert.match(push.stderr, /Deploy successful!/);
      const page = (await h.exec('curl', ['-sS', '--fail', '--max-time', '10', `http://${vm.ip}:8000/`])).stdout;
      assert.equal(page, 'deployed on a restored VM\n');
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  test('a restored VM behaves like a booted one: stop/start cold-boots its own disk, delete leaves nothing', async () => {
    assert.equal((await h.api('POST', '/v1/vms/snap-a/stop', { timeoutMs: 20_000 })).body.state, 'stopped');
    await h.api('POST', '/v1/vms/snap-a/start');
    assert.equal((await h.api('GET', '/v1/vms/snap-a/wait?state=running&timeout=240')).status, 200);
    const again = await identityOf(h, 'snap-a');
    assert.equal(again.host, 'snap-a');
    for (const n of ['snap-a', 'snap-b']) assert.equal((await h.api('DELETE', `/v1/vms/${n}`)).status, 204);
    // What remains is exactly the warm pool: one paused machine with its tap and disks. The pool
    // refills once per machine taken from it; wait for that refill, then check for exactly it.
    const taken = logLines(h, 'hypervisor started; guest booting').filter((l) => l.boot === 'pool').length;
    assert.ok(taken >= 1, 'snap-a came from the warm pool');
    const ready = await eventually('the pool refilled', async () => logLines(h, 'warm pool: machine ready'), (l) => l.length === taken + 1, 300_000);
    const pooled = ready.at(-1)!.vmId as string;
    const left = await hostLeftovers(h);
    assert.deepEqual({ taps: left.taps, qemus: left.qemus.length, disks: left.disks }, { taps: [tapForVm(pooled)], qemus: 1, disks: [pooled] }, JSON.stringify(left));
  });
});
