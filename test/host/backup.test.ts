/**
 * Backups (#16), for real: an app deployed by git push (over HTTPS with a
 * token) into a QEMU guest on one daemon, with a config var, is exported
 * with the built `fcm` CLI (`fcm backup export -o`), then imported on a
 * SECOND daemon (another harness: its own namespace, state, database) with
 * `fcm backup import`, where the new VM serves the same app with the same
 * config var and release history. A truncated archive, a flipped byte in the
 * disk and one in the manifest are refused with backup_invalid and leave
 * nothing on the second daemon: no VM row, disk, staging, tap or QEMU.
 * `--with-memory`: the archive (format 2) carries the sleep save as
 * memory.bin, taken with the guest's identity watch armed; a flipped byte in
 * it is refused the same way; the import on the second daemon resumes it:
 * the app's process goes on (same start time, its counter continues) with the
 * new VM's own hostname, machine-id, address and MAC, while the source wakes
 * as itself; a memory state of another image build boots from the disk and
 * its lastError says why.
 * Sizes and times are printed (diagnostics), not asserted.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hostLeftovers, hostSkipReason, ROOT_DIR, startHostHarness, type HostHarness } from '../helpers/host-harness.js';

const skip = hostSkipReason();

interface Res {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

function sh(cmd: string, args: string[], env: Record<string, string | undefined>, cwd?: string): Promise<Res> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { env, cwd, timeout: 900_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - t0 });
    });
  });
}

/** Name, content offset and size of each member of a tar archive (walking its 512-byte headers). */
function tarMembers(b: Buffer): { name: string; at: number; size: number }[] {
  const out: { name: string; at: number; size: number }[] = [];
  for (let off = 0; off + 512 <= b.length; ) {
    const h = b.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
    out.push({ name, at: off + 512, size });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

const APP = `import http.server, json, os, socket, threading, time
STARTED = time.time_ns()
COUNT = [0]
LOCK = threading.Lock()
def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/state":
            # In-memory state (a counter, the process's start) and the identity the guest has now.
            with LOCK:
                COUNT[0] += 1
                n = COUNT[0]
            body = json.dumps({"n": n, "started": STARTED, "pid": os.getpid(), "hostname": socket.gethostname(),
                "machineId": read("/etc/machine-id"), "mac": read("/sys/class/net/eth0/address"),
                "ip": self.connection.getsockname()[0]}).encode()
        else:
            body = ("backup-app v1 " + os.environ.get("GREETING", "-")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
`;

describe('backup export → import on a second daemon', { skip: skip ?? false, timeout: 40 * 60_000 }, () => {
  let h1: HostHarness;
  let h2: HostHarness;
  let work: string;
  let archive: string;
  const cli = (h: HostHarness, args: string[]) => sh(process.execPath, [join(ROOT_DIR, 'dist/api/cli/main.js'), ...args], { ...process.env, ...h.env, HOME: work }, work);
  const get = async (h: HostHarness, ip: string) => {
    const r = await h.exec('curl', ['-sS', '--max-time', '10', `http://${ip}:8000/`]).catch((e: Error) => ({ stdout: `ERR ${e.message}` }));
    return r.stdout;
  };
  const served = async (h: HostHarness, ip: string, want: RegExp, ms = 180_000) => {
    const end = Date.now() + ms;
    let last = '';
    while (Date.now() < end) {
      last = await get(h, ip);
      if (want.test(last)) return last;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.fail(`http://${ip}:8000/ never served ${want}; last: ${last}`);
  };
  /** Nothing of an import is left on the second daemon. */
  const nothingOn = async (h: HostHarness, what: string) => {
    assert.deepEqual((await h.api('GET', '/v1/vms')).body.vms, [], `${what}: no VM row`);
    const left = await hostLeftovers(h);
    assert.deepEqual(left, { taps: [], qemus: [], disks: [], runDirs: [] }, `${what}: no tap, QEMU, disk or run dir`);
    const staging = join(h.stateDir, 'disks', '.imports');
    assert.deepEqual(existsSync(staging) ? readdirSync(staging) : [], [], `${what}: no staging left`);
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'fcm-backup-'));
    [h1, h2] = await Promise.all([startHostHarness(), startHostHarness()]);
  });
  after(async () => {
    await Promise.all([h1?.close(), h2?.close()]);
    rmSync(work, { recursive: true, force: true });
  });

  test('deploy on the first daemon, export with the CLI, import on the second: the same app, config vars and releases', async (t) => {
    const c = await h1.api('POST', '/v1/vms', { name: 'keep', memoryMib: 256, swapMib: 0 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.equal((await h1.api('GET', '/v1/vms/keep/wait?state=running&timeout=600')).status, 200);
    // The app, pushed over HTTPS with the token (git smart HTTP on the daemon).
    const repo = join(work, 'app');
    const genv = { ...process.env, HOME: work, GIT_TERMINAL_PROMPT: '0', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com' };
    await sh('git', ['init', '-q', '-b', 'main', repo], genv);
    writeFileSync(join(repo, 'app.py'), APP);
    writeFileSync(join(repo, 'Procfile'), 'web: /usr/bin/python3 app.py\n');
    await sh('git', ['-C', repo, 'add', '.'], genv);
    await sh('git', ['-C', repo, 'commit', '-q', '-m', 'v1'], genv);
    const remote = String(c.body.gitHttpUrl).replace('://', `://git:${h1.token}@`);
    const push = await sh('git', ['-C', repo, 'push', remote, 'HEAD:main'], genv);
    assert.equal(push.code, 0, `${push.stdout}\n${push.stderr}`);
    const env = await h1.api('PATCH', '/v1/vms/keep/env', { set: { GREETING: 'hello-from-backup' } });
    assert.equal(env.status, 200, JSON.stringify(env.body));
    await served(h1, c.body.ip, /^backup-app v1 hello-from-backup$/);
    const releases1 = (await h1.api('GET', '/v1/vms/keep/releases')).body;

    archive = join(work, 'keep.fcm-backup');
    const ex = await cli(h1, ['backup', 'export', 'keep', '-o', archive, '--json']);
    assert.equal(ex.code, 0, ex.stderr);
    const exSummary = JSON.parse(ex.stderr.trim().split('\n').at(-1)!);
    assert.equal(exSummary.bytes, statSync(archive).size);
    assert.equal((await h1.api('GET', '/v1/vms/keep')).body.state, 'sleeping', 'a running VM is put to sleep for a consistent disk');
    t.diagnostic(`export: ${(exSummary.bytes / 1048576).toFixed(1)} MiB archive in ${ex.ms} ms (CLI wall time; disk 2048 MiB virtual)`);

    // Refused archives first, while the second daemon is empty: nothing may be left.
    const bytes = readFileSync(archive);
    const cases: [string, Buffer, RegExp][] = [];
    cases.push(['truncated to half', bytes.subarray(0, Math.floor(bytes.length / 2)), /truncated/]);
    cases.push(['truncated by the last block', bytes.subarray(0, bytes.length - 512), /truncated/]);
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0x01;
    cases.push(['a flipped byte in the disk', flipped, /disk\.qcow2 does not match its SHA-256/]);
    const manifestFlip = Buffer.from(bytes);
    const at = manifestFlip.indexOf('"memoryMib": 256');
    assert.ok(at > 0 && at < 4096);
    manifestFlip[at + 13] = '5'.charCodeAt(0); // 256 → 556: still a valid manifest, but not the one that was signed
    cases.push(['an edited manifest', manifestFlip, /manifest\.json does not match manifest\.sha256/]);
    const post = async (f: string, query = '') => {
      const r = await sh('curl', ['-sS', '-X', 'POST', '--data-binary', `@${f}`, '-H', 'content-type: application/x-fcm-backup', '-H', `authorization: Bearer ${h2.token}`, `${h2.url}/v1/backups${query}`], process.env);
      return JSON.parse(r.stdout) as { code: string; detail: string; status: number };
    };
    // Another media type is refused before anything is read.
    const json = await sh('curl', ['-sS', '-X', 'POST', '--data-binary', '{"manifest": {}}', '-H', 'content-type: application/json', '-H', `authorization: Bearer ${h2.token}`, `${h2.url}/v1/backups`], process.env);
    assert.equal((JSON.parse(json.stdout) as { code: string }).code, 'unsupported_media_type', json.stdout);
    await nothingOn(h2, 'a JSON body');
    for (const [what, data, msg] of cases) {
      const f = join(work, 'bad.fcm-backup');
      writeFileSync(f, data);
      const problem = await post(f);
      assert.equal(problem.code, 'backup_invalid', `${what}: ${JSON.stringify(problem)}`);
      assert.equal(problem.status, 422);
      assert.match(problem.detail, msg, what);
      await nothingOn(h2, what);
      // The CLI says the same, in words.
      const r = await cli(h2, ['backup', 'import', f]);
      assert.notEqual(r.code, 0, `${what}: the CLI fails`);
      assert.match(r.stderr, /Error: Not a valid, complete backup archive \[backup_invalid\]\n {2}The backup archive is not valid: /, r.stderr);
      await nothingOn(h2, `${what} (CLI)`);
    }

    const im = await cli(h2, ['backup', 'import', archive, '--json']);
    assert.equal(im.code, 0, im.stderr);
    const vm = JSON.parse(im.stdout);
    t.diagnostic(`import: ${(bytes.length / 1048576).toFixed(1)} MiB in ${im.ms} ms (CLI wall time, until the VM is created and booting)`);
    assert.equal(vm.name, 'keep');
    assert.notEqual(vm.id, c.body.id, 'its own identity');
    const t0 = Date.now();
    assert.equal((await h2.api('GET', '/v1/vms/keep/wait?state=running&timeout=600')).status, 200);
    await served(h2, vm.ip, /^backup-app v1 hello-from-backup$/);
    t.diagnostic(`imported VM: running and serving ${Date.now() - t0} ms after the import answered (cold boot)`);
    assert.deepEqual((await h2.api('GET', '/v1/vms/keep/env')).body.vars, { GREETING: 'hello-from-backup' });
    const releases2 = (await h2.api('GET', '/v1/vms/keep/releases')).body;
    const strip = (l: { releases: Record<string, unknown>[] }) => l.releases.map(({ version, status, kind, commit, description }) => ({ version, status, kind, commit, description }));
    assert.deepEqual(strip(releases2), strip(releases1), 'the same release history');

    // The name is taken now: refused before the disk is read, nothing more made.
    assert.equal((await post(archive)).code, 'name_taken');
    assert.equal((await hostLeftovers(h2)).disks.length, 1);
  });

  test('--with-memory: the archive carries the memory state (format 2, checksummed); a damaged one is refused; the import resumes it with its own identity, processes alive; the source keeps its own; a mismatched one boots from the disk and says why', async (t) => {
    type State = { n: number; started: number; pid: number; hostname: string; machineId: string; mac: string; ip: string };
    const state = async (h: HostHarness, ip: string): Promise<State> => {
      const r = await h.exec('curl', ['-sS', '--fail', '--max-time', '20', `http://${ip}:8000/state`]);
      return JSON.parse(r.stdout) as State;
    };
    // The first test left "keep" asleep: wake it, and give its app some in-memory state.
    assert.equal((await h1.api('POST', '/v1/vms/keep/start')).status, 200);
    assert.equal((await h1.api('GET', '/v1/vms/keep/wait?state=running&timeout=600')).status, 200);
    const src = (await h1.api('GET', '/v1/vms/keep')).body as { id: string; ip: string; mac: string };
    await served(h1, src.ip, /^backup-app v1 hello-from-backup$/);
    const s1 = await state(h1, src.ip);
    const s2 = await state(h1, src.ip);
    assert.equal(s2.n, s1.n + 1);
    assert.deepEqual([s2.hostname, s2.ip, s2.mac], ['keep', src.ip, src.mac], 'the source guest as itself');

    const memArchive = join(work, 'keep-mem.fcm-backup');
    const ex = await cli(h1, ['backup', 'export', 'keep', '--with-memory', '-o', memArchive, '--json']);
    assert.equal(ex.code, 0, ex.stderr);
    const bytes = readFileSync(memArchive);
    const ms = tarMembers(bytes);
    assert.deepEqual(ms.map((m) => m.name), ['manifest.json', 'disk.qcow2', 'memory.bin', 'config.json', 'releases.json', 'manifest.sha256']);
    const manifestText = bytes.subarray(ms[0]!.at, ms[0]!.at + ms[0]!.size).toString('utf8');
    const manifest = JSON.parse(manifestText);
    assert.equal(manifest.version, 2);
    assert.equal(manifest.memory.hypervisor, 'qemu');
    assert.equal(manifest.memory.memoryMib, 256);
    assert.equal(manifest.memory.identityWatch, true, 'the guest armed its identity watch before the save');
    const mem = ms[2]!;
    assert.ok(mem.size > 1 << 20 && mem.size <= (256 + 256) << 20, `memory.bin is a saved machine: ${mem.size} bytes`);
    assert.equal((await h1.api('GET', '/v1/vms/keep')).body.state, 'sleeping');
    t.diagnostic(`export --with-memory: ${(bytes.length / 1048576).toFixed(1)} MiB archive (memory.bin ${(mem.size / 1048576).toFixed(1)} MiB) in ${ex.ms} ms`);

    const before = (await h2.api('GET', '/v1/vms')).body.vms.map((v: { name: string }) => v.name);
    const disksBefore = (await hostLeftovers(h2)).disks.length;
    const bad = Buffer.from(bytes);
    bad[mem.at + Math.floor(mem.size / 2)]! ^= 0x01;
    const badFile = join(work, 'bad-mem.fcm-backup');
    writeFileSync(badFile, bad);
    const r = await cli(h2, ['backup', 'import', badFile, '--name', 'keep-mem', '--json']);
    assert.notEqual(r.code, 0);
    const problem = JSON.parse(r.stderr.trim().split('\n').at(-1)!);
    assert.equal(problem.code, 'backup_invalid', r.stderr);
    assert.match(problem.detail, /memory\.bin does not match its SHA-256/);
    assert.deepEqual((await h2.api('GET', '/v1/vms')).body.vms.map((v: { name: string }) => v.name), before, 'no VM made');
    assert.equal((await hostLeftovers(h2)).disks.length, disksBefore, 'no disk made');
    const staging = join(h2.stateDir, 'disks', '.imports');
    assert.deepEqual(existsSync(staging) ? readdirSync(staging) : [], [], 'no staging left');

    // Resumed on the second daemon: the same processes (start time, counter), a new identity.
    const im = await cli(h2, ['backup', 'import', memArchive, '--name', 'keep-mem', '--json']);
    assert.equal(im.code, 0, im.stderr);
    const vm = JSON.parse(im.stdout) as { id: string; ip: string; mac: string; lastError: string | null };
    t.diagnostic(`import --with-memory: resumed and answering as itself ${im.ms} ms after the CLI started (CLI wall time)`);
    assert.equal(vm.lastError, null, 'resumed, not cold-booted');
    assert.equal((await h2.api('GET', '/v1/vms/keep-mem/wait?state=running&timeout=600')).status, 200);
    const c1 = await state(h2, vm.ip);
    assert.equal(c1.started, s2.started, 'the same app process (its start time in memory)');
    assert.equal(c1.pid, s2.pid);
    assert.equal(c1.n, s2.n + 1, 'the counter continues');
    assert.equal(c1.hostname, 'keep-mem', 'its own hostname');
    assert.notEqual(c1.machineId, s2.machineId, 'its own machine-id');
    assert.equal(c1.ip, vm.ip, 'the guest has the new VM\'s address');
    assert.equal(c1.mac, vm.mac, 'and its MAC');
    assert.notEqual(vm.ip === src.ip && vm.mac === src.mac, true);
    assert.notEqual(vm.mac, src.mac);
    assert.notEqual(vm.id, src.id);
    assert.match(readFileSync(h2.logPath, 'utf8'), /"vm":"keep-mem"[^\n]*"memory":"resumed"[^\n]*"backup imported"/);

    // The source wakes from the same save as itself, and disarms its watch.
    assert.equal((await h1.api('POST', '/v1/vms/keep/start')).status, 200);
    assert.equal((await h1.api('GET', '/v1/vms/keep/wait?state=running&timeout=600')).status, 200);
    const s3 = await state(h1, src.ip);
    assert.deepEqual([s3.hostname, s3.machineId, s3.ip, s3.mac, s3.started, s3.n], ['keep', s2.machineId, src.ip, src.mac, s2.started, s2.n + 1], 'the source keeps its identity and its own count');
    const end = Date.now() + 120_000;
    while (!/"vm":"keep"[^\n]*"identity watch disarmed/.test(readFileSync(h1.logPath, 'utf8')) && Date.now() < end) await new Promise((res) => setTimeout(res, 500));
    assert.match(readFileSync(h1.logPath, 'utf8'), /"vm":"keep"[^\n]*"identity watch disarmed/);

    // A memory state of another image build: refused for resume, booted from the disk, and lastError says why.
    const build = String(manifest.memory.imageBuild);
    const other = (build[0] === 'a' ? 'b' : 'a') + build.slice(1);
    const editedText = manifestText.replace(`"imageBuild": "${build}"`, `"imageBuild": "${other}"`);
    assert.notEqual(editedText, manifestText);
    const edited = Buffer.from(bytes);
    Buffer.from(editedText).copy(edited, ms[0]!.at);
    const dig = ms[5]!;
    Buffer.from(`${createHash('sha256').update(editedText).digest('hex')}\n`).copy(edited, dig.at);
    const editedFile = join(work, 'other-build.fcm-backup');
    writeFileSync(editedFile, edited);
    const im2 = await cli(h2, ['backup', 'import', editedFile, '--name', 'keep-cold', '--json']);
    assert.equal(im2.code, 0, im2.stderr);
    const cold = JSON.parse(im2.stdout) as { ip: string; lastError: string | null };
    assert.equal(cold.lastError, `imported by a cold boot: its memory state was not resumed: it was saved on image build ${other}, and this host has ${build}`);
    assert.equal((await h2.api('GET', '/v1/vms/keep-cold/wait?state=running&timeout=600')).status, 200);
    await served(h2, cold.ip, /^backup-app v1 hello-from-backup$/);
    assert.equal((await state(h2, cold.ip)).n, 1, 'a fresh process: booted, not resumed');
    assert.match(readFileSync(h2.logPath, 'utf8'), /"vm":"keep-cold"[^\n]*"memory":"cold"[^\n]*"backup imported"/);
  });
});
