/**
 * Three hosts, one PostgreSQL (test/helpers/cluster-harness.ts): three real
 * daemons in three network namespaces, each with its own bridge, VM subnet
 * and Caddy, real QEMU guests, PostgreSQL in a namespace of its own.
 *
 * Each host may commit 512 MiB of guest memory and the guests have 256 MiB:
 * room for two per host, so placement and overbooking show with six guests.
 * The tests run in order on one cluster (starting three daemons is the
 * expensive part): placement, concurrent creates, kill -9 of a host with a
 * delete through another host meanwhile, a PostgreSQL restart; then, on a VM
 * on host C, the console and git pushes (HTTPS and SSH) through host A (last,
 * so the fault tests see the guests as placement left them).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clusterSkipReason, startCluster, type ClusterHost, type TestCluster } from '../helpers/cluster-harness.js';
import { gitEnv, PY_APP, remoteLines, sh, sshdOn, type HostSshd, type Res } from '../helpers/cluster-push.js';
import { ConsoleWs, runInConsole } from '../helpers/console-ws.js';
import { hostLeftovers, hostSkipReason, namespacePids } from '../helpers/host-harness.js';
import { registerKeyWith } from '../helpers/key-proof.js';
import { gitClient } from '../helpers/sshd.js';
import { eventually } from '../helpers/wait.js';

const skip = hostSkipReason() ?? clusterSkipReason() ?? false;
const VM = { memoryMib: 256, diskMib: 1024, swapMib: 0 };
/** Guests boot under TCG on a shared 2-core machine, several at once. */
const BOOT_MS = 300_000;

interface Vm { id: string; name: string; host: string; ip: string; url: string; state: string; stateReason?: string | null }

/** The QEMU process of each VM running in `x`'s namespace, by VM id. */
async function qemuPids(x: ClusterHost): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const pid of await namespacePids(x.h.ns)) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const id = /vm_[0-9a-z]+/.exec(cmd)?.[0];
    if (cmd.startsWith('qemu-system') && id) out.set(id, pid);
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The host names Caddy in `x`'s namespace routes (its admin API on that namespace's loopback). */
async function caddyRoutes(x: ClusterHost): Promise<string> {
  return (await x.h.exec('curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:2019/config/'])).stdout;
}

describe('three hosts on one PostgreSQL (real daemons, Caddy, QEMU guests)', { skip }, () => {
  let c: TestCluster;
  let a: ClusterHost;
  let b: ClusterHost;
  let hc: ClusterHost;
  const started = Date.now();

  before(async () => {
    const cap = { FCM_HOST_MEMORY_MIB: '512', FCM_MEMORY_RESERVE_MIB: '0', FCM_MEMORY_OVERCOMMIT: '1' };
    c = await startCluster({ hosts: [{ id: 'host-a', env: cap }, { id: 'host-b', env: cap }, { id: 'host-c', env: cap }], leaseMs: 4000 });
    [a, b, hc] = c.hosts as [ClusterHost, ClusterHost, ClusterHost];
  });

  after(async () => {
    await c?.close();
    console.log(`# cluster group: ${Math.round((Date.now() - started) / 1000)} s`);
  });

  const vmsVia = async (x: ClusterHost): Promise<Vm[]> => {
    const r = await x.h.api('GET', '/v1/vms');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.vms as Vm[];
  };
  const hostsVia = async (x: ClusterHost) => {
    const r = await x.h.api('GET', '/v1/hosts');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return new Map((r.body.hosts as { id: string; state: string; vms: number; usedMemoryMib: number; memoryMib: number; publicIp: string; renewedAt: string }[]).map((h) => [h.id, h]));
  };
  const waitRunning = (x: ClusterHost, names: string[]) =>
    eventually(`${names.join(', ')} running (seen through ${x.id})`, () => vmsVia(x), (vms) => names.every((n) => vms.find((v) => v.name === n)?.state === 'running'), BOOT_MS, 1000);
  const dashed = (ip: string) => ip.replaceAll('.', '-');

  test('six creates through host A land on all three hosts, two each; GET /v1/hosts shows it; each URL embeds its host\'s IP and its Caddy routes it', async () => {
    const made: Vm[] = [];
    for (let i = 1; i <= 6; i++) {
      const r = await a.h.api('POST', '/v1/vms', { name: `spread-${i}`, ...VM });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      made.push(r.body as Vm);
    }
    const per = (id: string) => made.filter((v) => v.host === id).map((v) => v.name);
    assert.deepEqual(c.hosts.map((x) => per(x.id).length), [2, 2, 2], `placement spreads by free memory: ${JSON.stringify(made.map((v) => [v.name, v.host]))}`);
    for (const v of made) {
      const x = c.host(v.host);
      assert.equal(v.url, `https://${v.name}.${dashed(x.lanIp)}.sslip.io`, `${v.name}'s URL names ${x.id}`);
      assert.ok(v.ip.startsWith(x.subnet.replace(/0\/24$/, '')), `${v.name}'s address ${v.ip} is in ${x.id}'s subnet ${x.subnet}`);
    }
    // Full everywhere: a seventh is refused (by whichever host it is sent to) and leaves no row.
    const full = await b.h.api('POST', '/v1/vms', { name: 'spread-7', ...VM });
    assert.deepEqual([full.status, full.body.code], [503, 'insufficient_capacity'], JSON.stringify(full.body));
    for (const via of [a, b, hc]) {
      const hs = await hostsVia(via);
      for (const x of c.hosts) {
        const h = hs.get(x.id)!;
        assert.deepEqual([h.state, h.vms, h.usedMemoryMib, h.memoryMib, h.publicIp], ['up', 2, 512, 512, x.lanIp], `${x.id} through ${via.id}`);
      }
      assert.equal((await vmsVia(via)).length, 6, `${via.id} lists the cluster's VMs`);
    }
    await waitRunning(a, made.map((v) => v.name));
    // Each host's Caddy routes its own VMs only (no shared proxy).
    for (const x of c.hosts) {
      const routes = await caddyRoutes(x);
      for (const v of made) assert.equal(routes.includes(`${v.name}.${dashed(c.host(v.host).lanIp)}.sslip.io`), v.host === x.id, `${v.name} routed by ${x.id}?`);
    }
    // Its URL answers from its own host: from A's namespace, the name resolved to C's address
    // (as sslip.io would) reaches C's Caddy and the guest; A's Caddy has no certificate for it.
    const onC = made.find((v) => v.host === 'host-c')!;
    const u = new URL(onC.url);
    const caC = await hc.h.caddy.rootCaFile();
    const curl = (ip: string) => a.h.exec('curl', ['-sS', '--max-time', '15', '--cacert', caC, '--resolve', `${u.hostname}:443:${ip}`, '-w', '\n%{http_code}', `${onC.url}/`]);
    const page = await eventually(`${onC.url} through host-c's Caddy`, () => curl(hc.lanIp), (r) => r.stdout.endsWith('\n200'), 60_000, 1000);
    assert.match(page.stdout, new RegExp(onC.name));
    await assert.rejects(curl(a.lanIp), /SSL|TLS|alert|certificate|error/i, "host-a's Caddy does not serve host-c's VM");
    // The QEMU processes are where placement put them.
    for (const x of c.hosts) {
      const pids = await qemuPids(x);
      assert.deepEqual([...pids.keys()].sort(), made.filter((v) => v.host === x.id).map((v) => v.id).sort(), `QEMUs in ${x.id}'s namespace`);
    }
  });

  test('concurrent creates through A and B never overbook: the one host with room for two gets two, the rest are refused', async () => {
    // Make room on C only.
    for (const v of (await vmsVia(a)).filter((v) => v.host === 'host-c')) {
      const r = await b.h.api('DELETE', `/v1/vms/${v.name}`);
      assert.equal(r.status, 204, JSON.stringify(r.body));
    }
    const results = await Promise.all([
      a.h.api('POST', '/v1/vms', { name: 'race-a1', ...VM }),
      b.h.api('POST', '/v1/vms', { name: 'race-b1', ...VM }),
      a.h.api('POST', '/v1/vms', { name: 'race-a2', ...VM }),
      b.h.api('POST', '/v1/vms', { name: 'race-b2', ...VM }),
    ]);
    const ok = results.filter((r) => r.status === 201).map((r) => r.body as Vm);
    const refused = results.filter((r) => r.status !== 201);
    assert.equal(ok.length, 2, JSON.stringify(results.map((r) => [r.status, r.body.code ?? r.body.host])));
    assert.deepEqual(ok.map((v) => v.host), ['host-c', 'host-c']);
    assert.notEqual(ok[0]!.ip, ok[1]!.ip, 'two addresses');
    assert.deepEqual(refused.map((r) => r.body.code), ['insufficient_capacity', 'insufficient_capacity']);
    const hs = await hostsVia(b);
    assert.deepEqual(c.hosts.map((x) => [hs.get(x.id)!.vms, hs.get(x.id)!.usedMemoryMib]), [[2, 512], [2, 512], [2, 512]]);
    const all = await vmsVia(hc);
    assert.equal(all.length, 6);
    for (const x of c.hosts) {
      const mine = all.filter((v) => v.host === x.id);
      assert.equal(new Set(mine.map((v) => v.ip)).size, mine.length, `${x.id}: every IP once`);
    }
    await waitRunning(hc, ok.map((v) => v.name));
  });

  test('kill -9 of C: its VMs keep running and are unreachable through A and B; one deleted through A meanwhile; C returns, adopts the other and removes what was deleted', async () => {
    const onC = (await vmsVia(a)).filter((v) => v.host === 'host-c');
    assert.equal(onC.length, 2);
    const [keep, gone] = onC as [Vm, Vm];
    const before = await qemuPids(hc);
    assert.deepEqual([...before.keys()].sort(), onC.map((v) => v.id).sort());
    const daemonPid = hc.h.daemonPid()!;

    await hc.h.killDaemon('SIGKILL');
    assert.equal(alive(daemonPid), false, "C's daemon is gone");
    for (const [id, pid] of before) assert.ok(alive(pid), `${id}'s QEMU runs on without its daemon`);

    for (const via of [a, b]) {
      await eventually(`C's VMs unreachable through ${via.id}`, () => vmsVia(via), (vms) => onC.every((v) => vms.find((w) => w.name === v.name)?.state === 'unreachable'), 30_000, 500);
      const got = await via.h.api('GET', `/v1/vms/${keep.name}`);
      assert.equal(got.body.state, 'unreachable');
      assert.match(got.body.stateReason, /^host host-c \(10\.253\.\d+\.13\) has not renewed its lease since /);
      assert.equal((await hostsVia(via)).get('host-c')!.state, 'unreachable');
      const stop = await via.h.api('POST', `/v1/vms/${keep.name}/stop`, {});
      assert.deepEqual([stop.status, stop.body.code], [503, 'host_unreachable']);
    }
    // The VMs on A and B are not affected.
    assert.ok((await vmsVia(b)).filter((v) => v.host !== 'host-c').every((v) => v.state === 'running'));
    // The owner deletes one while C is away: only its row goes.
    const del = await a.h.api('DELETE', `/v1/vms/${gone.name}`);
    assert.equal(del.status, 204, JSON.stringify(del.body));
    assert.equal((await b.h.api('GET', `/v1/vms/${gone.name}`)).status, 404);
    for (const [id, pid] of before) assert.ok(alive(pid), `${id}'s QEMU still runs: nothing was done to host C from A`);

    await hc.h.startDaemon();
    await waitRunning(a, [keep.name]);
    const after = await qemuPids(hc);
    assert.equal(after.get(keep.id), before.get(keep.id), 'the kept VM was adopted: the same QEMU process');
    assert.equal(after.has(gone.id), false, "the deleted VM's QEMU is gone");
    assert.equal(alive(before.get(gone.id)!), false);
    const left = await hostLeftovers(hc.h);
    assert.equal(left.taps.length, 1, `one tap on C (the kept VM's): ${left.taps.join(' ')}`);
    assert.deepEqual(left.disks, [keep.id], "only the kept VM's disks remain");
    const routes = await eventually("C's Caddy drops the deleted VM's route", () => caddyRoutes(hc), (r) => !r.includes(`${gone.name}.`), 30_000, 500);
    assert.ok(routes.includes(`${keep.name}.`));
    assert.equal((await hostsVia(b)).get('host-c')!.state, 'up');
  });

  test('PostgreSQL restarted: every daemon reconnects and loses nothing; a create right after works', async () => {
    const vmsBefore = (await vmsVia(a)).map((v) => [v.id, v.name, v.host, v.ip]).sort();
    const tokensBefore = (await a.h.api('GET', '/v1/tokens')).body;
    const pgPid = c.pg.pid()!;
    await c.pg.stop();
    assert.equal(alive(pgPid), false, 'the postmaster is gone');
    for (const x of c.hosts) assert.equal(await c.pgReachableFrom(x), false, `PostgreSQL is down as seen from ${x.id}`);
    // Statements fail with a clear, retryable error meanwhile (503 database_unavailable, Retry-After); the guests run on.
    const down = await a.h.api('GET', '/v1/vms');
    assert.deepEqual([down.status, down.body.code], [503, 'database_unavailable'], `a read without the database: ${JSON.stringify(down.body)}`);
    for (const x of c.hosts) assert.ok((await qemuPids(x)).size >= 1, `${x.id}'s guests run on`);
    const restartedAt = new Date().toISOString();
    await c.pg.start();
    for (const x of c.hosts) {
      // Each renews its lease again (its own reconnect), and answers from the database.
      await eventually(`${x.id} renewed its lease after the restart`, () => hostsVia(x), (hs) => [...hs.values()].every((h) => h.state === 'up' && h.renewedAt > restartedAt), 60_000, 500);
      assert.deepEqual((await vmsVia(x)).map((v) => [v.id, v.name, v.host, v.ip]).sort(), vmsBefore, `${x.id}: the same VMs`);
      assert.ok((await vmsVia(x)).every((v) => v.state === 'running'), `${x.id}: all running`);
    }
    assert.deepEqual((await b.h.api('GET', '/v1/tokens')).body, tokensBefore, 'the same tokens, and the admin token still works on every host');
    const r = await b.h.api('POST', '/v1/vms', { name: 'after-pg', ...VM });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.host, 'host-c', 'the one host with room');
    await waitRunning(b, ['after-pg']);
  });

  test("console and git push (HTTPS and SSH) to a VM on host C through A's API and A's SSH remote; the app answers through C's Caddy", async () => {
    // The VM made right after the PostgreSQL restart, on C (its other guest was adopted after the kill -9).
    const vm = (await a.h.api('GET', '/v1/vms/after-pg')).body as Vm;
    assert.equal(vm.host, 'host-c', JSON.stringify(vm));
    assert.equal(vm.state, 'running');
    const logOf = (x: ClusterHost) => readFileSync(x.h.logPath, 'utf8');

    // The console through A: A relays, C holds the session.
    const con = await ConsoleWs.open(`${a.h.url}/v1/vms/${vm.name}/console`, { token: a.h.token, timeoutMs: 60_000 });
    assert.equal(con.hello?.vm, vm.name);
    assert.equal((await runInConsole(con, 'echo $((40+2))', 60_000)).trim(), '42');
    con.ws.close(1000);
    assert.equal((await con.closed).code, 1000);
    assert.match(logOf(a), /console relayed to the owning host/);
    assert.match(logOf(hc), /"msg":"console connected"/);

    // The app, at its URL, from A's namespace: the name resolved to C's address (as sslip.io would), C's CA.
    const u = new URL(vm.url);
    const caC = await hc.h.caddy.rootCaFile();
    const servedThroughC = (version: string) =>
      eventually(
        `${vm.url} serves ${version} through host-c's Caddy`,
        () => a.h.exec('curl', ['-sS', '--max-time', '15', '--cacert', caC, '--resolve', `${u.hostname}:443:${hc.lanIp}`, `${vm.url}/`]).then((r) => r.stdout, () => ''),
        (body) => body === `python ${version}\n`,
        60_000,
        1000,
      );

    const tmp = mkdtempSync('/tmp/fcm-cluster3-push-');
    const work = join(tmp, 'app');
    mkdirSync(work);
    let remote: HostSshd | undefined;
    try {
      const git = (env: Record<string, string>, ...args: string[]) => sh('git', ['-C', work, ...args], env);
      const deployed = (r: Res) => {
        assert.equal(r.code, 0, r.stderr);
        const lines = remoteLines(r);
        assert.equal(lines[0], `-----> Deploying to ${vm.name}...`, lines.join('\n'));
        assert.equal(lines.at(-2), '-----> Deploy successful!', lines.join('\n'));
      };
      // HTTPS: A hands out its URL on the cluster network, which this process cannot reach; the same
      // path on A's link from here (as test/host/cluster-forward.test.ts does).
      assert.equal((await a.h.api('GET', `/v1/vms/${vm.name}`)).body.gitHttpUrl, `http://${a.lanIp}:7777/git/${vm.name}.git`);
      const env = gitEnv(work);
      writeFileSync(join(work, 'app.py'), PY_APP('v1'));
      writeFileSync(join(work, 'requirements.txt'), '# standard library only\n');
      writeFileSync(join(work, 'Procfile'), 'web: python3 app.py\n');
      assert.equal((await git(env, 'init', '-q', '-b', 'main')).code, 0);
      await git(env, 'add', '-A');
      assert.equal((await git(env, 'commit', '-q', '-m', 'v1')).code, 0);
      deployed(await git(env, 'push', `${a.h.url}/git/${vm.name}.git`.replace('http://', `http://x:${a.h.token}@`), 'HEAD:main'));
      await servedThroughC('v1');
      assert.ok(existsSync(join(hc.h.stateDir, 'git', 'repos', `${vm.id}.git`)), 'C holds the repository');
      assert.ok(!existsSync(join(a.h.stateDir, 'git', 'repos', `${vm.id}.git`)), 'A made none');

      // SSH: A's sshd with A's key command; the key registered through A; pushed to root@<A>:<vm>.git.
      remote = await sshdOn(a.h);
      const client = await gitClient(join(tmp, 'client'), 'owner', remote.sshd.knownHostsLine);
      assert.equal((await registerKeyWith((m, p, body, t) => a.h.api(m, p, body, t ?? a.h.token), client)).status, 201);
      writeFileSync(join(work, 'app.py'), PY_APP('v2'));
      await git(client.env, 'add', 'app.py');
      assert.equal((await git(client.env, 'commit', '-q', '-m', 'v2')).code, 0);
      const r = await git(client.env, 'push', `root@${a.h.daemonIp}:${vm.name}.git`, 'HEAD:main');
      assert.equal(r.code, 0, `${r.stderr}\nsshd:\n${remote.sshd.log().slice(-2000)}`);
      deployed(r);
      await servedThroughC('v2');
      assert.match(logOf(a), /git over SSH relayed to the owning host/);
      assert.match(logOf(hc), /git tunnel from another host/);
    } finally {
      await remote?.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
