/**
 * Secrets at rest and in logs, on a real daemon that has created, stopped,
 * started and restarted a real VM and refused bad tokens:
 * - the state dir and everything under it are private (dirs 0700; the
 *   database, admin token, agent key, seed, root and swap disks 0600; no VM
 *   file readable by others; nothing writable by others) — but for the git
 *   user's way to its repositories and socket (group search, 0710);
 * - the database holds token hashes, never a token or the agent key;
 * - no token or secret reaches the daemon or Caddy logs (the same audit
 *   test/run.ts runs over every harness's logs after the whole suite), and
 *   the audit does find a planted leak.
 * Token hashing itself is unit-tested in test/unit/auth and the CLI's
 * ~/.fcm-token mode in test/e2e/cli.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { lookupUser } from '../../daemon/drivers/git/git-user.js';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { auditLogs, captureForAudit } from '../helpers/log-audit.js';

const skip = hostSkipReason();

function walk(dir: string): { path: string; mode: number; uid: number; gid: number; type: 'dir' | 'file' | 'socket' | 'other' }[] {
  const out: ReturnType<typeof walk> = [];
  const st = lstatSync(dir);
  out.push({ path: dir, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, type: 'dir' });
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    const s = lstatSync(p);
    if (s.isDirectory()) out.push(...walk(p));
    else out.push({ path: p, mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, type: s.isFile() ? 'file' : s.isSocket() ? 'socket' : 'other' });
  }
  return out;
}

describe('secrets at rest and in logs (real daemon and VM)', { skip: skip ?? false }, () => {
  let h: HostHarness;
  let vm: { id: string; name: string };
  let snapshot: ReturnType<typeof walk>;
  let stoppedSnapshot: ReturnType<typeof walk>;
  const ownAudit = process.env.FCM_LOG_AUDIT_DIR ? null : mkdtempSync(join(tmpdir(), 'fcm-audit-'));

  before(async () => {
    if (ownAudit) process.env.FCM_LOG_AUDIT_DIR = ownAudit;
    h = await startHostHarness();
    const c = await h.api('POST', '/v1/vms', { name: 'secretive', memoryMib: 192, swapMib: 64 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    vm = c.body;
    assert.equal((await h.api('GET', '/v1/vms/secretive/wait?state=running&timeout=300')).status, 200);
    // Bad and foreign credentials, so the log has something to say about them.
    for (const tok of ['fcm_' + 'x'.repeat(43), h.token.slice(0, -2) + 'zz', 'garbage']) await h.api('GET', '/v1/vms', undefined, tok);
    snapshot = walk(h.stateDir);
    await h.api('POST', '/v1/vms/secretive/stop', { timeoutMs: 20_000 });
    stoppedSnapshot = walk(h.stateDir);
    await h.restartDaemon();
    await h.api('POST', '/v1/vms/secretive/start');
    assert.equal((await h.api('GET', '/v1/vms/secretive/wait?state=running&timeout=300')).status, 200);
  });

  after(async () => {
    await h?.close();
    if (ownAudit) {
      delete process.env.FCM_LOG_AUDIT_DIR;
      rmSync(ownAudit, { recursive: true, force: true });
    }
  });

  test('the state dir is private: dirs 0700, secrets 0600, VM files unreadable by others, nothing writable by others', async () => {
    const all = [...snapshot, ...stoppedSnapshot, ...walk(h.stateDir)];
    const rel = (p: string) => relative(h.stateDir, p) || '.';
    // The git user (its group) may pass through the state dir and git/ without listing them, to reach its
    // repositories and connect to the internal socket: exactly these modes, nothing else opened to it.
    const gitGid = (await lookupUser('fcm-git'))!.gid;
    const forGit: Record<string, number> = { '.': 0o710, git: 0o710, 'git/fcm.sock': 0o660 };
    for (const [path, mode] of Object.entries(forGit)) {
      const e = all.find((x) => rel(x.path) === path);
      assert.ok(e && e.mode === mode && e.gid === gitGid, `${path}: ${e?.mode.toString(8)} group ${e?.gid} (want ${mode.toString(8)}, group ${gitGid})`);
    }
    // Each confined QEMU runs as its own uid (gid the same): it passes through run/ (0711, root's, not
    // listable) into its VM's run dir (0710, root's, group the VM's gid), where only sock/ and the
    // console log are its own. No other uid can enter a VM's run dir.
    const runDirOk = (e: (typeof all)[number]) => {
      const r = rel(e.path);
      if (r === 'run') return e.type === 'dir' && e.mode === 0o711 && e.uid === 0;
      const m = /^run\/(vm_[0-9a-f]+)$/.exec(r);
      if (!m || e.type !== 'dir' || e.mode !== 0o710 || e.uid !== 0) return false;
      const sock = all.find((x) => rel(x.path) === `run/${m[1]}/sock`);
      return !!sock && sock.mode === 0o700 && sock.uid === e.gid && sock.gid === e.gid;
    };
    // git/bin and git/hooks hold the deploy helpers sshd and git execute (0755 by design, no secrets).
    const shared = (e: { path: string }) => /^git\/(bin|hooks)(\/|$)/.test(rel(e.path));
    const bad = new Set<string>();
    for (const e of all) {
      const where = `${rel(e.path)} ${e.type} ${e.mode.toString(8)}`;
      if (forGit[rel(e.path)] === e.mode && e.gid === gitGid) continue;
      if (runDirOk(e)) continue;
      if (e.mode & 0o022) bad.add(`${where}: writable by group/others`);
      if (shared(e)) continue;
      if (e.type === 'dir' ? (e.mode & 0o077) !== 0 : (e.mode & 0o007) !== 0) bad.add(`${where}: open to others`);
    }
    assert.deepEqual([...bad], []);
    const secretFiles = all.filter((e) => e.type === 'file' && /(^|\/)(fcm\.db(-wal|-shm)?|\.token|agent\.key|seed\.raw|root\.qcow2|swap\.raw)$/.test(e.path));
    const names = new Set(secretFiles.map((e) => rel(e.path).replace(/vm_[0-9a-f]+/, '<vm>')));
    for (const must of ['fcm.db', '.token', 'agent.key', 'disks/<vm>/seed.raw', 'disks/<vm>/root.qcow2', 'disks/<vm>/swap.raw']) {
      assert.ok(names.has(must), `${must} was not found in the state dir`);
    }
    const notPrivate = secretFiles.filter((e) => e.mode !== 0o600).map((e) => `${rel(e.path)} ${e.mode.toString(8)}`);
    assert.deepEqual([...new Set(notPrivate)], [], 'secret files and VM disks must be exactly 0600');
    const runDirs = all.filter((e) => e.type === 'dir' && /\/run\/vm_/.test(e.path));
    assert.ok(runDirs.length > 0, 'the VM\'s run dir was checked');
  });

  test('the database holds only token hashes: no admin token, agent token or agent key', () => {
    const key = readFileSync(join(h.stateDir, 'agent.key'), 'utf8').trim();
    const agentToken = createHmac('sha256', Buffer.from(key, 'base64url')).update(`fcm-agent:${vm.id}`).digest('base64url');
    const db = Buffer.concat(
      readdirSync(h.stateDir).filter((n) => n.startsWith('fcm.db')).map((n) => readFileSync(join(h.stateDir, n))),
    ).toString('latin1');
    assert.ok(db.includes(createHash('sha256').update(h.token).digest('hex')), 'the admin token\'s hash is stored (the check below is not vacuous)');
    for (const [what, s] of [['admin token', h.token], ['agent token', agentToken], ['agent key', key]] as const) {
      assert.equal(db.includes(s), false, `the ${what} is in the database`);
    }
    // The agent token lives on the VM's seed disk (0600, checked above) — that is how the guest gets it.
    const seed = readFileSync(join(h.stateDir, 'disks', vm.id, 'seed.raw'), 'latin1');
    assert.ok(seed.includes(agentToken));
  });

  test('no token or secret in the daemon log; the audit finds a planted one', async () => {
    const dir = process.env.FCM_LOG_AUDIT_DIR!;
    const before = new Set(readdirSync(dir));
    // What the harness does on close, for this daemon's log so far.
    const mine = `secrets-test-${process.pid}`;
    captureForAudit(dir, mine, [h.logPath], { adminTokens: [h.token], agentKey: readFileSync(join(h.stateDir, 'agent.key'), 'utf8').trim(), other: [] });
    const log = readFileSync(h.logPath, 'utf8');
    assert.match(log, new RegExp(vm.id), 'the log mentions the VM, so its agent token was looked for');
    const clean = auditLogs(dir);
    assert.deepEqual(clean.findings, [], JSON.stringify(clean.findings, null, 2));
    assert.ok(clean.files >= before.size, 'logs were audited');

    // Negative control: a log line with the admin token and one with the VM's agent token.
    const planted = mkdtempSync(join(tmpdir(), 'fcm-audit-planted-'));
    try {
      const key = readFileSync(join(h.stateDir, 'agent.key'), 'utf8').trim();
      const agentToken = createHmac('sha256', Buffer.from(key, 'base64url')).update(`fcm-agent:${vm.id}`).digest('base64url');
      const fake = join(planted, 'daemon.log');
      writeFileSync(fake, `{"msg":"auth","header":"Bearer ${h.token}"}\n{"vmId":"${vm.id}","agent":"${agentToken}"}\n{"msg":"user","t":"fcm_${'Q'.repeat(43)}"}\n`);
      captureForAudit(join(planted, 'audit'), 'x', [fake], { adminTokens: [h.token], agentKey: key, other: [] });
      const found = auditLogs(join(planted, 'audit')).findings.map((f) => f.kind).sort();
      assert.deepEqual(found, ['admin token', `agent token of ${vm.id}`, 'fcm token']);
    } finally {
      rmSync(planted, { recursive: true, force: true });
    }
  });
});
