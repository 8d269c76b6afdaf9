/**
 * A hostile guest, on real QEMU guests (issue 13, "Measure"): the VM's owner
 * (mallory) replaces the guest agent through the serial console — as any
 * owner can: the console is a root shell — with test/reliability/lib/
 * hostile-agent.py, then triggers everything that reaches the agent (git
 * push over HTTPS, env set, rollback, logs, logs -f, console resize) while
 * the agent streams newline-free garbage, endless empty lines, never
 * answers, answers one byte a second, or answers with huge or malformed
 * JSON; and floods its serial port.
 *
 * For each attack: the operation fails with a clear error within a bound
 * (the configured deadline plus a generous safety margin), the daemon is the
 * same process (no restart), its RSS stays bounded, and another user (bob)
 * keeps being served: his API calls and his app through Caddy are sampled
 * all along, and their latency during each attack is printed next to the
 * baseline measured before any attack. Host disk growth per attack is
 * printed; for the serial flood it is the claim (≤ FCM_CONSOLE_LOG_MIB plus
 * the stated slack). FCM_SOAK=1 floods the full 200 MiB of the issue
 * (~35 min at the ~100 kB/s a TCG guest prints); by default the flood is a
 * few times the cap.
 *
 * Two VMs for the whole suite (TCG boots are slow); the real agent is put
 * back at the end and answers again.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashToken, newToken } from '../../daemon/core/tokens.js';
import { openDb } from '../../daemon/drivers/sqlite/db.js';
import { SqliteTokenStore } from '../../daemon/drivers/sqlite/sqlite-token-store.js';
import { SqliteUserStore } from '../../daemon/drivers/sqlite/sqlite-user-store.js';
import { ConsoleWs } from '../helpers/console-ws.js';
import { hostSkipReason, ROOT_DIR, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { httpText } from '../helpers/http-text.js';
import { eventually } from '../helpers/wait.js';
import { GuestShell } from './lib/guest-shell.js';

const skip = hostSkipReason();
const MiB = 1024 * 1024;
// The bounds under test, small enough for CI's time budget (the defaults are in daemon/config.ts).
const CALL_TIMEOUT_MS = 15_000;
const BUILD_TIMEOUT_MS = 20_000;
const STALL_MS = 8_000;
const OUTPUT_MIB = 32; // the default
const CONSOLE_LOG_MIB = 1;
/** What the console cap may overshoot by: one poll interval (250 ms) of a TCG guest's ~100 kB/s, one fallocate call, and block rounding — stated generously. */
const CONSOLE_SLACK = 256 * 1024;
/** Bob's API calls must each answer within this while an attack runs (they take milliseconds). */
const API_BOUND_MS = 3000;
/** The daemon's RSS may not grow more than this over its baseline during an attack (the old parser grew by hundreds of MiB). */
const RSS_BOUND_KIB = 200 * 1024;
/** Safety margin on top of a configured deadline: the claim is "fails within the bound", not a timing. */
const SLACK_MS = 30_000;
const SOAK = process.env.FCM_SOAK === '1';
const FLOOD_RAW_BYTES = SOAK ? 150 * MiB : 3 * MiB; // base64: ×4/3 on the wire (200 MiB with FCM_SOAK=1)
/** How long the flood may take: 200 MiB at the ~50 kB/s of a TCG guest on a busy machine is ~70 min. */
const FLOOD_BOUND_MS = SOAK ? 150 * 60_000 : 20 * 60_000;

/**
 * Inside the guest: ends the running agent (init's respawn starts /usr/lib/fcm/agent.py again).
 * Bash builtins only (no pkill in the image, and a fork per process costs ~40 ms under TCG).
 */
const KILL_AGENT = `for p in /proc/[0-9]*; do mapfile -d '' -t a < $p/cmdline 2>/dev/null || continue; [[ "\${a[*]}" == *python3*/usr/lib/fcm/agent.py* ]] && kill \${p#/proc/}; done; true`;

interface Sample {
  phase: string;
  apiMs: number | null;
  appMs: number | null;
  rssKib: number;
}

interface Outcome {
  attack: string;
  ms: number;
  error: string;
  diskBytes: number;
}

function sh(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 300_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 64 * MiB }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const rssKib = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

describe('a hostile guest cannot take the daemon down or slow other users (real QEMU guests)', { skip: skip ?? false, timeout: 40 * 60_000 + (SOAK ? FLOOD_BOUND_MS : 0) }, () => {
  let h: HostHarness;
  let ca: Buffer;
  let work: string;
  let mallory: string;
  let bob: string;
  let hostile: { id: string; name: string; ip: string; gitHttpUrl: string };
  let victim: { url: string };
  let daemonPid: number;
  const samples: Sample[] = [];
  const outcomes: Outcome[] = [];
  let phase = 'baseline';
  let sampling = true;
  let sampler: Promise<void> | null = null;

  const as = (token: string) => (method: string, path: string, body?: unknown) => h.api(method, path, body, token);
  const gitEnv = () => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: work,
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Mallory',
    GIT_AUTHOR_EMAIL: 'mallory@example.com',
    GIT_COMMITTER_NAME: 'Mallory',
    GIT_COMMITTER_EMAIL: 'mallory@example.com',
  });
  const git = (...args: string[]) => sh('git', ['-C', join(work, 'app'), ...args], gitEnv());
  let commits = 0;
  const push = async () => {
    assert.equal((await git('commit', '-q', '--allow-empty', '-m', `attempt ${++commits}`)).code, 0);
    return git('push', hostile.gitHttpUrl.replace('://', `://git:${mallory}@`), 'HEAD:main');
  };
  /** Sets how the hostile agent answers one kind of route (from the namespace host, through its control port). */
  const mode = async (route: string, behaviour: string) => {
    const { stdout } = await h.exec('curl', ['-sS', '--max-time', '10', `http://${hostile.ip}:7612/mode?route=${route}&do=${behaviour}`]);
    assert.equal(JSON.parse(stdout).modes[route], behaviour);
  };
  /** How many requests of a kind of route the hostile agent has received. */
  const received = async (route: string): Promise<number> => {
    const { stdout } = await h.exec('curl', ['-sS', '--max-time', '10', `http://${hostile.ip}:7612/mode`]);
    return JSON.parse(stdout).requests[route];
  };
  /** Bytes the hostile VM holds on the host: its run dir (console log) and disks, allocated. */
  const diskBytes = async () => {
    const { stdout } = await sh('du', ['-s', '--block-size=1', join(h.stateDir, 'run', hostile.id), join(h.stateDir, 'disks', hostile.id), join(h.stateDir, 'fcm.db')], gitEnv());
    return stdout.trim().split('\n').reduce((n, l) => n + Number(l.split(/\s+/)[0]), 0);
  };
  const getApp = async () => {
    const u = new URL(victim.url);
    const t0 = Date.now();
    const r = await httpText({ https: true, host: h.daemonIp, port: 443, path: '/', servername: u.hostname, headers: { host: u.hostname }, ca, timeout: 20_000 });
    return r.status === 200 ? Date.now() - t0 : null;
  };
  const getApi = async () => {
    const t0 = Date.now();
    const r = await fetch(`${h.url}/v1/vms`, { headers: { authorization: `Bearer ${bob}` }, signal: AbortSignal.timeout(20_000) });
    const body = (await r.json()) as { vms: { name: string }[] };
    return r.status === 200 && body.vms.length === 1 && body.vms[0]!.name === 'victim' ? Date.now() - t0 : null;
  };

  const sample = async (p: string) => {
    const [apiMs, appMs] = await Promise.all([getApi().catch(() => null), getApp().catch(() => null)]);
    samples.push({ phase: p, apiMs, appMs, rssKib: rssKib(daemonPid) });
  };

  /** Runs one attack; `fn` returns the clear error it got. Records time, disk growth and what bob saw meanwhile. */
  const attack = async (name: string, boundMs: number, fn: () => Promise<string>, check: (error: string) => void) => {
    const disk0 = await diskBytes();
    phase = name;
    const t0 = Date.now();
    let error: string;
    let ms: number;
    try {
      // One sample of bob's calls started with the attack, however short it is (the sampler adds more).
      [error, ms] = await Promise.all([fn().then((e) => [e, Date.now() - t0] as const), sample(name)]).then(([r]) => r);
    } finally {
      phase = 'between';
    }
    outcomes.push({ attack: name, ms, error: error.replace(/\s+/g, ' ').slice(0, 160), diskBytes: (await diskBytes()) - disk0 });
    check(error);
    assert.ok(ms <= boundMs, `${name}: failed after ${ms} ms, beyond its bound of ${boundMs} ms`);
    assert.equal(h.daemonPid(), daemonPid, 'the daemon is the same process');
    process.kill(daemonPid, 0);
    const during = samples.filter((s) => s.phase === name);
    assert.ok(during.length > 0, `${name}: bob was sampled during the attack`);
    const baseRss = Math.max(...samples.filter((s) => s.phase === 'baseline').map((s) => s.rssKib));
    for (const s of during) {
      // Safety bounds, not timings: an event loop blocked for seconds, or a daemon buffering what
      // the guest sends, would break them; a busy machine does not come near them.
      assert.ok(s.apiMs !== null && s.apiMs <= API_BOUND_MS, `${name}: bob's GET /v1/vms took ${s.apiMs ?? 'forever (failed)'} ms during the attack (bound ${API_BOUND_MS} ms)`);
      assert.notEqual(s.appMs, null, `${name}: bob's app through Caddy failed during the attack`);
      assert.ok(s.rssKib <= baseRss + RSS_BOUND_KIB, `${name}: daemon RSS ${s.rssKib} KiB, baseline ${baseRss} KiB`);
    }
  };

  before(async () => {
    h = await startHostHarness({
      caddy: true,
      env: {
        FCM_ALLOWED_EMAILS: 'bob@example.com,mallory@example.com',
        FCM_AGENT_CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
        FCM_AGENT_BUILD_TIMEOUT_MS: String(BUILD_TIMEOUT_MS),
        FCM_AGENT_OUTPUT_MIB: String(OUTPUT_MIB),
        FCM_CLIENT_STALL_MS: String(STALL_MS),
        FCM_CONSOLE_LOG_MIB: String(CONSOLE_LOG_MIB),
      },
    });
    ca = readFileSync(await h.caddy.rootCaFile());
    work = mkdtempSync('/tmp/fcm-hostile-');
    // Two users: rows and tokens in the daemon's database (no identity provider in tests).
    const db = openDb(join(h.stateDir, 'fcm.db'));
    const tokens: Record<string, string> = {};
    for (const who of ['mallory', 'bob']) {
      const user = new SqliteUserStore(db).upsert({ issuer: 'https://issuer.test', subject: who, email: `${who}@example.com`, name: who }, new Date().toISOString());
      tokens[who] = newToken();
      new SqliteTokenStore(db).insert({ id: `tok_${who.padEnd(12, '0').slice(0, 12).replace(/[^0-9a-f]/g, '0')}`, hash: hashToken(tokens[who]!), userId: user.id, kind: 'user', description: 'test', createdAt: new Date().toISOString(), expiresAt: null });
    }
    db.close();
    mallory = tokens.mallory!;
    bob = tokens.bob!;
    assert.equal((await as(mallory)('POST', '/v1/vms', { name: 'hostile', memoryMib: 256, swapMib: 0 })).status, 201);
    assert.equal((await as(bob)('POST', '/v1/vms', { name: 'victim', memoryMib: 192, swapMib: 0 })).status, 201);
    const w1 = await as(mallory)('GET', '/v1/vms/hostile/wait?state=running&timeout=300');
    assert.equal(w1.status, 200, JSON.stringify(w1.body));
    const w2 = await as(bob)('GET', '/v1/vms/victim/wait?state=running&timeout=300');
    assert.equal(w2.status, 200, JSON.stringify(w2.body));
    hostile = w1.body;
    victim = w2.body;
    daemonPid = h.daemonPid()!;
    await eventually("bob's app answers through Caddy", getApp, (ms) => ms !== null, 120_000, 500);

    // Mallory replaces her agent through the console (a root shell), as any owner can.
    const sh1 = await GuestShell.open(h.stateDir, hostile.id);
    try {
      const b64 = readFileSync(join(ROOT_DIR, 'test', 'reliability', 'lib', 'hostile-agent.py')).toString('base64');
      await sh1.ok(': > /root/hostile.b64');
      for (let i = 0; i < b64.length; i += 1000) await sh1.ok(`printf '%s' '${b64.slice(i, i + 1000)}' >> /root/hostile.b64`);
      await sh1.ok('base64 -d /root/hostile.b64 > /root/hostile.py && python3 -I -S -c "import ast; ast.parse(open(\'/root/hostile.py\').read())"');
      await sh1.ok(`cp /usr/lib/fcm/agent.py /root/agent.py.orig && cp /root/hostile.py /usr/lib/fcm/agent.py && ${KILL_AGENT}`, 120_000);
    } finally {
      sh1.close();
    }
    await eventually('the hostile agent answers on its control port', () => h.exec('curl', ['-sS', '--max-time', '5', `http://${hostile.ip}:7612/mode`]), (r) => r.stdout.includes('modes'), 60_000, 500);

    await sh('git', ['init', '-q', '-b', 'main', join(work, 'app')], gitEnv());

    sampler = (async () => {
      while (sampling) {
        await sample(phase);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    // A baseline of bob's latencies before any attack.
    await eventually('baseline samples', async () => samples.filter((s) => s.phase === 'baseline').length, (n) => n >= 12, 120_000, 250);
    phase = 'between';
  });

  after(async () => {
    sampling = false;
    await sampler;
    if (outcomes.length) {
      const base = samples.filter((s) => s.phase === 'baseline');
      const fmt = (xs: (number | null)[]) => {
        const ok = xs.filter((x): x is number => x !== null);
        return `p50 ${pct(ok, 50)} ms, max ${Math.max(...ok)} ms${ok.length < xs.length ? `, ${xs.length - ok.length} FAILED` : ''}`;
      };
      const baseRss = Math.max(...base.map((s) => s.rssKib));
      console.log(`# hostile guest: ${outcomes.length} attacks tried, daemon restarts: ${h.daemonPid() === daemonPid ? 0 : 'PID CHANGED'}`);
      console.log(`#   baseline (before any attack, ${base.length} samples): bob's GET /v1/vms ${fmt(base.map((s) => s.apiMs))}; bob's app via Caddy ${fmt(base.map((s) => s.appMs))}; daemon RSS ${Math.round(baseRss / 1024)} MiB`);
      for (const o of outcomes) {
        const d = samples.filter((s) => s.phase === o.attack);
        console.log(`#   ${o.attack}: over in ${(o.ms / 1000).toFixed(1)} s — ${o.error}`);
        console.log(`#     during (${d.length} samples): bob's GET /v1/vms ${fmt(d.map((s) => s.apiMs))}; app via Caddy ${fmt(d.map((s) => s.appMs))}; daemon RSS max ${Math.round(Math.max(...d.map((s) => s.rssKib)) / 1024)} MiB; host disk growth ${Math.round(o.diskBytes / 1024)} KiB`);
      }
    }
    await h?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('deploys: the agent fakes success twice (setup for rollback and restarts)', async () => {
    await mode('stream', 'ok');
    for (let i = 0; i < 2; i++) {
      const r = await push();
      assert.equal(r.code, 0, r.stderr);
    }
    const rels = (await as(mallory)('GET', '/v1/vms/hostile/releases')).body.releases;
    assert.deepEqual(rels.map((r: { status: string }) => r.status), ['succeeded', 'superseded']);
  });

  test('git push while the build streams newline-free garbage: push rejected at the output bound, release failed with the reason', async () => {
    await mode('stream', 'garbage');
    await attack('push: build streams newline-free garbage', BUILD_TIMEOUT_MS + SLACK_MS, async () => {
      const r = await push();
      assert.notEqual(r.code, 0);
      return r.stderr.split('\n').filter((l) => l.startsWith('remote:  !')).join(' ');
    }, (e) => assert.match(e, new RegExp(`sent too much \\(the guest agent sent more than ${OUTPUT_MIB} MiB of output`)));
    const rel = (await as(mallory)('GET', '/v1/vms/hostile/releases')).body.releases[0];
    assert.equal(rel.status, 'failed');
    const full = (await as(mallory)('GET', `/v1/vms/hostile/releases/${rel.version}`)).body;
    assert.match(full.log, /sent more than 32 MiB of output/);
  });

  test('git push while the build never answers: rejected at the build deadline', async () => {
    await mode('stream', 'silent');
    await attack('push: build never answers', BUILD_TIMEOUT_MS + SLACK_MS, async () => {
      const r = await push();
      assert.notEqual(r.code, 0);
      return r.stderr.split('\n').filter((l) => l.startsWith('remote:  !')).join(' ');
    }, (e) => assert.match(e, new RegExp(`did not finish in time \\(no complete answer within ${BUILD_TIMEOUT_MS / 1000} s\\)`)));
    assert.equal((await as(mallory)('GET', '/v1/vms/hostile/releases')).body.releases[0].status, 'failed');
  });

  test('env set while the restart answers one byte a second: deploy_failed at the call deadline, the old config restored', async () => {
    await mode('stream', 'slow');
    await attack('env set: restart answers 1 byte/s', CALL_TIMEOUT_MS + SLACK_MS, async () => {
      const r = await as(mallory)('PATCH', '/v1/vms/hostile/env', { set: { A: '1' } });
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.equal(r.body.code, 'deploy_failed');
      return r.body.detail;
    }, (e) => assert.match(e, new RegExp(`did not finish in time \\(no complete answer within ${CALL_TIMEOUT_MS / 1000} s\\)`)));
    assert.deepEqual((await as(mallory)('GET', '/v1/vms/hostile/env')).body.vars, {});
    const rel = (await as(mallory)('GET', '/v1/vms/hostile/releases')).body.releases[0];
    assert.deepEqual([rel.kind, rel.status], ['config', 'failed']);
  });

  test('env set while the restart streams endless empty lines: failed at the line bound, parsed a chunk per event-loop turn', async () => {
    await mode('stream', 'lines');
    await attack('env set: restart streams endless empty lines', CALL_TIMEOUT_MS + SLACK_MS, async () => {
      const r = await as(mallory)('PATCH', '/v1/vms/hostile/env', { set: { B: '1' } });
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.equal(r.body.code, 'deploy_failed');
      return r.body.detail;
    }, (e) => assert.match(e, /sent too much \(the guest agent sent more than 1000000 lines of output/));
  });

  test('env set while the agent answers 100 MiB of problem+json: refused at 64 KiB, before any parsing', async () => {
    await mode('stream', 'ok');
    await mode('env', 'hugejson');
    await attack('env set: 100 MiB JSON answer', CALL_TIMEOUT_MS + SLACK_MS, async () => {
      const r = await as(mallory)('PATCH', '/v1/vms/hostile/env', { set: { C: '1' } });
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.equal(r.body.code, 'deploy_failed');
      return r.body.detail;
    }, (e) => assert.match(e, /answer larger than 65536 bytes/));
  });

  test('env set while the agent answers malformed JSON: a clear error, nothing taken from the body', async () => {
    await mode('env', 'malformed');
    await attack('env set: malformed JSON answer', CALL_TIMEOUT_MS + SLACK_MS, async () => {
      const r = await as(mallory)('PATCH', '/v1/vms/hostile/env', { set: { D: '1' } });
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.equal(r.body.code, 'deploy_failed');
      return r.body.detail;
    }, (e) => assert.match(e, /refused: HTTP 409/));
    await mode('env', 'ok');
  });

  test('rollback while the agent sends a result line that does not parse: deploy_failed, the current release keeps serving', async () => {
    await mode('env', 'ok');
    await mode('stream', 'malformed');
    await attack('rollback: malformed result line', CALL_TIMEOUT_MS + SLACK_MS, async () => {
      const r = await as(mallory)('POST', '/v1/vms/hostile/rollback', {});
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.equal(r.body.code, 'deploy_failed');
      return r.body.detail;
    }, (e) => assert.match(e, /malformed result line/));
    const rels = (await as(mallory)('GET', '/v1/vms/hostile/releases')).body.releases;
    assert.equal(rels.filter((r: { status: string }) => r.status === 'succeeded').length, 1, 'one release still serving');
  });

  test('logs while the agent never answers: a problem within the call deadline', async () => {
    await mode('logs', 'silent');
    await attack('logs: agent never answers', CALL_TIMEOUT_MS + SLACK_MS, async () => {
      const r = await as(mallory)('GET', '/v1/vms/hostile/logs?lines=10');
      assert.equal(r.status, 409, JSON.stringify(r.body));
      assert.equal(r.body.code, 'vm_failed');
      return r.body.detail;
    }, (e) => assert.match(e, new RegExp(`no complete answer within ${CALL_TIMEOUT_MS / 1000} s`)));
  });

  test('logs -f from a client that never reads while the agent floods: paced, then cut off after the stall bound', async () => {
    await mode('logs', 'garbage');
    await attack('logs -f: agent floods, client never reads', STALL_MS + SLACK_MS, async () => {
      const sock = connect(7777, h.daemonIp);
      sock.on('error', () => {});
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write(`GET /v1/vms/hostile/logs?follow=true&lines=10 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${mallory}\r\n\r\n`);
      sock.pause();
      // Never read for longer than the stall bound, then drain what the kernel buffered: the
      // stream must end (the daemon cut it off) rather than flow on.
      await new Promise((r) => setTimeout(r, STALL_MS + 5000));
      let got = 0;
      const ended = new Promise<string>((resolve) => {
        sock.on('data', (c: Buffer) => (got += c.length));
        sock.once('close', () => resolve(`the daemon closed the stalled logs -f connection after ${got} buffered bytes`));
        setTimeout(() => resolve('STILL OPEN'), 20_000);
      });
      sock.resume();
      const how = await ended;
      sock.destroy();
      return how;
    }, (e) => assert.match(e, /closed the stalled logs -f connection after \d+ buffered bytes/));
  });

  test('console resize while the agent hangs or answers 100 MiB: the console keeps working', async () => {
    await attack('console resize: agent hangs, then answers 100 MiB', 3 * 3000 + SLACK_MS, async () => {
      const c = await ConsoleWs.open(`${h.url}/v1/vms/hostile/console`, { token: mallory });
      try {
        await mode('resize', 'silent');
        const before = await received('resize');
        c.resize(101, 31);
        // Switch only once the first resize reached the agent (the daemon sends one at a time anyway).
        await eventually('the first resize reached the agent', () => received('resize'), (n) => n > before, 30_000, 100);
        await mode('resize', 'hugejson');
        c.resize(102, 32);
        c.send('echo RESIZE-OK-$((6*7))\r');
        await c.waitFor(/RESIZE-OK-42/, { timeoutMs: 30_000 });
        // Both resizes failed with a bound, logged (the daemon tells nobody else).
        const failures = await eventually('two console resize failures in the daemon log', async () =>
          readFileSync(h.logPath, 'utf8').split('\n').filter((l) => l.includes('console resize failed') && l.includes(hostile.id)), (ls) => ls.length >= 2, 30_000, 250);
        return failures.map((l) => (JSON.parse(l) as { err: string }).err).join(' / ');
      } finally {
        c.ws.close();
        await mode('resize', 'ok');
      }
    }, (e) => assert.match(e, /console resize in time.*answer larger than 65536 bytes|answer larger than 65536 bytes.*console resize in time/));
  });

  test(`a serial flood leaves ≤ ${CONSOLE_LOG_MIB} MiB (+ slack) on the host and the console still shows the latest output`, { timeout: FLOOD_BOUND_MS + 5 * 60_000 }, async (t) => {
    const log = join(h.stateDir, 'run', hostile.id, 'console.log');
    // What the log costs the host: its allocated blocks (after a punched hole the length says more).
    let maxSize = 0;
    const held = () => {
      const st = statSync(log);
      maxSize = Math.max(maxSize, st.size);
      return st.blocks * 512;
    };
    const tail = () => {
      const fd = openSync(log, 'r');
      try {
        const size = fstatSync(fd).size;
        const buf = Buffer.alloc(Math.min(size, 4096));
        readSync(fd, buf, 0, buf.length, size - buf.length);
        return buf.toString('latin1');
      } finally {
        closeSync(fd);
      }
    };
    // The daemon's console link closes 5 s after the last client; the flood runs with nobody attached
    // (the fastest a guest prints, and the usual case).
    const marker = `FLOOD-DONE-${Date.now()}`;
    await eventually('the console socket is free', async () => {
      const s = await GuestShell.open(h.stateDir, hostile.id, 5000);
      await s.ok(`(head -c ${FLOOD_RAW_BYTES} /dev/urandom | base64 > /dev/ttyS0; echo ${marker} > /dev/ttyS0) >/dev/null 2>&1 &`);
      s.close();
      return true;
    }, (ok) => ok, 60_000, 1000);
    let max = 0;
    let rate = '';
    await attack('serial flood', FLOOD_BOUND_MS, async () => {
      const t0 = Date.now();
      const wire = Math.ceil(FLOOD_RAW_BYTES / 3) * 4 * (77 / 76);
      for (;;) {
        max = Math.max(max, held());
        if (tail().includes(`\n${marker}`)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      rate = `${Math.round(wire / 1000 / ((Date.now() - t0) / 1000))} kB/s`;
      return `the guest printed ${(wire / MiB).toFixed(1)} MiB at ${rate}; the host held at most ${(max / MiB).toFixed(2)} MiB of it (file length at most ${(maxSize / MiB).toFixed(2)} MiB)`;
    }, () => {});
    t.diagnostic(`serial flood: ${outcomes.at(-1)!.error}`);
    assert.ok(max <= CONSOLE_LOG_MIB * MiB + CONSOLE_SLACK, `the console log held ${max} bytes, over the cap ${CONSOLE_LOG_MIB} MiB + ${CONSOLE_SLACK}`);
    assert.ok(outcomes.at(-1)!.diskBytes <= CONSOLE_LOG_MIB * MiB + CONSOLE_SLACK, 'host disk growth of the flooding VM');
    // The console works and its replay ends with the newest output.
    const c = await ConsoleWs.open(`${h.url}/v1/vms/hostile/console`, { token: mallory });
    try {
      assert.ok(c.replay.toString('latin1').includes(`\n${marker}`), 'the replay shows the latest output');
      c.send('\recho AFTER-FLOOD-$((6*7))\r');
      await c.waitFor(/AFTER-FLOOD-42/, { timeoutMs: 60_000 });
    } finally {
      c.ws.close();
    }
  });

  test('the real agent put back through the console answers again; the daemon never restarted', async () => {
    await new Promise((r) => setTimeout(r, 6000)); // the daemon's console link lets go 5 s after the last client
    const s = await GuestShell.open(h.stateDir, hostile.id);
    try {
      await s.ok(`cp /root/agent.py.orig /usr/lib/fcm/agent.py && ${KILL_AGENT}`, 120_000);
    } finally {
      s.close();
    }
    await eventually('the real agent answers logs', () => as(mallory)('GET', '/v1/vms/hostile/logs?lines=5'), (r) => r.status === 200, 120_000, 1000);
    assert.equal(h.daemonPid(), daemonPid);
    const restarts = readFileSync(h.logPath, 'utf8').split('\n').filter((l) => l.includes('"fcm daemon listening"')).length;
    assert.equal(restarts, 1, 'the daemon started once');
  });
});
