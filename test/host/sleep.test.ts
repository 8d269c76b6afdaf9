/**
 * Issue #16, sleep and wake, for real: a QEMU guest behind a real Caddy is
 * put to sleep (its memory and device state saved through QEMU migration, its
 * process ended), then woken by the first HTTPS request to its URL — which is
 * answered by the app, not an error page — and by `fcm start`; what ran in
 * the guest (a shell's variables, files not yet synced) is there after the
 * wake; asleep, its memory is the host's again (no QEMU, no cgroup, the RAM on disk); 50
 * requests during a wake all succeed; a console wakes it too; the woken QEMU is confined
 * like any other (own uid, seccomp, its own mount view).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConsoleWs, runInConsole } from '../helpers/console-ws.js';
import { cgroupDirs, hostLeftovers, hostSkipReason, startHostHarness, VMM_UID_TEST_BASE, type HostHarness } from '../helpers/host-harness.js';
import { eventually } from '../helpers/wait.js';
import { qemuByVm } from '../reliability/lib/host-checks.js';

const skip = hostSkipReason();

function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

describe('sleep and wake through a real Caddy', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let ca: string;
  let url: string;
  let id: string;
  const inConsole = async (cmd: string) => {
    // A console on a sleeping VM says hello once the VM has woken.
    const c = await ConsoleWs.open(`${h.url}/v1/vms/dozy/console`, { token: h.token, timeoutMs: 120_000 });
    try {
      c.send('\r');
      return (await runInConsole(c, cmd, 60_000)).trim();
    } finally {
      c.close();
    }
  };
  const qemuOf = async () => (await qemuByVm(h)).get(id) ?? null;

  before(async () => {
    h = await startHostHarness({ caddy: true, env: { FCM_IDLE_CHECK_INTERVAL_MS: '1000' } });
    const c = await h.api('POST', '/v1/vms', { name: 'dozy', memoryMib: 256, swapMib: 0 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    id = c.body.id;
    url = c.body.url;
    assert.equal((await h.api('GET', '/v1/vms/dozy/wait?state=running&timeout=300')).status, 200);
    ca = await h.caddy.rootCaFile();
    await eventually('app over https', () => h.curlVia(`${url}/`, { cacert: ca }), (r) => r.status === 200, 60_000);
  });
  after(async () => {
    await h?.close();
  });

  test('asleep: no QEMU, no tap, memory on disk; the first request wakes it and gets the app; the guest resumes where it was', async () => {
    // State that lives only in the guest's memory: a console shell's variable, a file not synced.
    await inConsole('DOZY_MEMORY=kept-$((6*7)); echo unsynced-data > /root/before-sleep.txt');
    const before = await qemuOf();
    assert.ok(before, 'a QEMU runs before');
    const s = await h.api('POST', '/v1/vms/dozy/sleep');
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.equal(s.body.state, 'sleeping');
    const left = await hostLeftovers(h);
    assert.deepEqual([left.qemus, left.taps], [[], []], 'no QEMU process and no tap while asleep: its memory is the host\'s again');
    // Its memory is returned to the host: the process that held the guest's RAM is gone, no
    // cgroup of the VM is left to charge any page to, and the RAM is on disk instead.
    assert.equal(existsSync(`/proc/${before}`), false, `QEMU ${before} has exited`);
    assert.deepEqual(cgroupDirs(`fcm-test-${h.ns.slice(5)}`).filter((d) => d.endsWith(`/${id}`)), [], 'no cgroup of the VM is left');
    const state = statSync(join(h.stateDir, 'disks', id, 'saved', 'sleep', 'state.bin'));
    assert.ok(state.size > 1 << 20, `its memory is on disk: ${state.size} bytes`);
    const health = await h.api('GET', '/v1/health', undefined, null);
    assert.deepEqual(health.body.vms, { total: 1, running: 0, sleeping: 1 });
    // The request is held while the VM wakes, then served by the app — not the 503 page, not a 502.
    const first = await h.curlVia(`${url}/`, { cacert: ca, extra: ['--max-time', '120'] });
    assert.equal(first.status, 200, first.body);
    assert.match(first.body, /dozy/);
    const vm = (await h.api('GET', '/v1/vms/dozy/wait?state=running&timeout=60')).body;
    assert.equal(vm.state, 'running');
    assert.equal(vm.lastError, null, 'restored, not cold-booted');
    assert.match(readFileSync(h.logPath, 'utf8'), /"vm":"dozy"[^\n]*"wake":"restore"/, 'the daemon restored the saved state');
    assert.equal(await inConsole('echo "$DOZY_MEMORY $(cat /root/before-sleep.txt)"'), 'kept-42 unsynced-data', 'memory and disk as they were');
    // The woken QEMU is confined exactly like a booted one.
    const pid = await qemuOf();
    assert.ok(pid && pid !== before, 'a new QEMU process');
    const st = procStatus(pid);
    const uid = Number(st.Uid!.split(/\s+/)[0]);
    assert.ok(uid >= VMM_UID_TEST_BASE, `runs as a VMM uid, not ${uid}`);
    assert.equal(st.Seccomp, '2', 'under its seccomp filter');
    assert.equal(st.NoNewPrivs, '1');
    assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /-sandbox\0on,/);
    const ppid = Number(st.PPid);
    assert.match(readFileSync(`/proc/${ppid}/cmdline`, 'utf8'), /^bwrap\0/, 'inside its bubblewrap mount view');
  });

  test('a woken guest\'s clock is the host\'s, not the time it fell asleep (set before the VM counts as running)', async () => {
    assert.equal((await h.api('POST', '/v1/vms/dozy/sleep')).body.state, 'sleeping');
    // Asleep long enough that a clock resumed as saved would be far outside the bound below.
    await new Promise((r) => setTimeout(r, 20_000));
    assert.equal((await h.api('POST', '/v1/vms/dozy/start')).status, 200);
    assert.equal((await h.api('GET', '/v1/vms/dozy/wait?state=running&timeout=120')).status, 200);
    const hostBefore = Math.floor(Date.now() / 1000);
    const guest = Number(await inConsole('date +%s'));
    const hostAfter = Math.ceil(Date.now() / 1000);
    assert.ok(Number.isInteger(guest), `date +%s printed ${guest}`);
    assert.ok(guest >= hostBefore - 2 && guest <= hostAfter + 2, `guest clock ${guest} vs host ${hostBefore}..${hostAfter}: off by ${guest - hostBefore} s`);
    const set = readFileSync(h.logPath, 'utf8').split('\n').filter((l) => /"vm":"dozy"/.test(l) && /guest clock set from the host/.test(l)).at(-1);
    assert.ok(set, 'the daemon set the clock');
    assert.ok(JSON.parse(set).clockSkewMs >= 20_000, `it was behind by the time asleep: ${set}`);
  });

  test('50 requests while it wakes: every one is answered by the app', async () => {
    assert.equal((await h.api('POST', '/v1/vms/dozy/sleep')).body.state, 'sleeping');
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => h.curlVia(`${url}/?n=${i}`, { cacert: ca, extra: ['--max-time', '120'] }).catch((e: Error) => ({ status: 0, body: e.message }))),
    );
    const bad = results.filter((r) => r.status !== 200 || !/dozy/.test(r.body));
    assert.deepEqual(bad, [], `${bad.length} of 50 requests failed`);
    assert.equal((await h.api('GET', '/v1/vms/dozy')).body.state, 'running');
  });

  test('a console wakes a sleeping VM and finds its shell as it was', async () => {
    assert.equal((await h.api('POST', '/v1/vms/dozy/sleep')).body.state, 'sleeping');
    assert.equal(await inConsole('echo "still $DOZY_MEMORY"'), 'still kept-42');
    assert.equal((await h.api('GET', '/v1/vms/dozy')).body.state, 'running');
  });

  test('sleepAfter: idle (no request through Caddy) for that long → asleep by itself; requests keep it awake; the next one wakes it', async () => {
    const p = await h.api('PATCH', '/v1/vms/dozy', { sleepAfter: '15s' });
    assert.equal(p.body.sleepAfter, '15s');
    // Requests every 3 s for 25 s: each one (seen in Caddy's access log) keeps it awake.
    for (let t = 0; t < 25_000; t += 3000) {
      assert.equal((await h.curlVia(`${url}/`, { cacert: ca })).status, 200);
      assert.equal((await h.api('GET', '/v1/vms/dozy')).body.state, 'running', 'kept awake by its requests');
      await new Promise((r) => setTimeout(r, 3000));
    }
    const asleep = await eventually('asleep when idle', () => h.api('GET', '/v1/vms/dozy'), (r) => r.body.state === 'sleeping', 120_000, 500);
    assert.equal(asleep.body.state, 'sleeping');
    assert.match(readFileSync(h.logPath, 'utf8'), /"vm":"dozy"[^\n]*"idle: putting the VM to sleep"/);
    const back = await h.curlVia(`${url}/`, { cacert: ca, extra: ['--max-time', '120'] });
    assert.equal(back.status, 200, back.body);
    assert.equal((await h.api('PATCH', '/v1/vms/dozy', { sleepAfter: 'off' })).body.sleepAfter, 'off');
  });

  test('fcm sleep / fcm start through the CLI; a sleeping VM that is stopped boots cold and keeps its disk', async () => {
    const cli = async (args: string[]) => {
      const { run } = await import('../../daemon/drivers/proc.js');
      return run(process.execPath, ['dist/api/cli/main.js', ...args], { env: { ...process.env, ...h.env }, timeoutMs: 300_000 });
    };
    await inConsole('echo synced-data > /root/synced.txt; sync');
    const slept = await cli(['sleep', 'dozy']);
    assert.match(slept.stdout, /dozy is asleep\. The next request to https:\/\/dozy\..* wakes it \(or: fcm start dozy\)\./);
    const shown = JSON.parse((await cli(['show', 'dozy', '--json'])).stdout);
    assert.equal(shown.state, 'sleeping');
    const started = await cli(['start', 'dozy']);
    assert.match(started.stdout, /Started dozy/);
    assert.equal((await h.api('GET', '/v1/vms/dozy')).body.state, 'running');
    // Asleep, then stopped: the saved memory is dropped; the disk keeps what was synced.
    assert.equal((await h.api('POST', '/v1/vms/dozy/sleep')).body.state, 'sleeping');
    assert.equal((await h.api('POST', '/v1/vms/dozy/stop')).body.state, 'stopped');
    const stopped = await eventually('503 page', () => h.curlVia(`${url}/`, { cacert: ca }), (r) => r.status === 503);
    assert.match(stopped.body, /dozy is stopped/);
    await h.api('POST', '/v1/vms/dozy/start');
    assert.equal((await h.api('GET', '/v1/vms/dozy/wait?state=running&timeout=300')).status, 200);
    assert.equal((await inConsole('cat /root/synced.txt; echo "[$DOZY_MEMORY]"')).replace(/\r/g, ''), 'synced-data\n[]', 'cold boot: disk kept, memory not');
    // Bad requests are refused with a code and change nothing.
    const bad = await h.api('POST', '/v1/vms/nobody/sleep');
    assert.deepEqual([bad.status, bad.body.code], [404, 'vm_not_found']);
    await h.api('POST', '/v1/vms/dozy/stop', { force: true });
    const wrong = await h.api('POST', '/v1/vms/dozy/sleep');
    assert.deepEqual([wrong.status, wrong.body.code], [409, 'invalid_state']);
  });
});
