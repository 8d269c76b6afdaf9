/**
 * AgentExec (the daemon's client of execCommand) against the real guest agent
 * (rootfs/guest/agent.py + oneoff.py) run on loopback by test/guest/serve_agent.py:
 * exit codes, stdin and its end, stdout apart from stderr, the app's config
 * vars, megabytes with backpressure, signals, the deadline, the per-VM cap,
 * and the command killed when the daemon's connection goes.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ExecRefused, type ExecChannel, type ExecEnd } from '../../daemon/core/ports/guest-exec.js';
import { AgentExec } from '../../daemon/drivers/agent-exec.js';
import { ROOT_DIR } from '../helpers/agent-contract.js';

const noRoot = process.getuid?.() !== 0 ? 'the guest agent runs commands as another uid: needs root' : null;

describe('AgentExec against the real guest agent on loopback', { skip: noRoot ?? false }, () => {
  let child: ChildProcess;
  let served: { url: string; token: string; vmId: string; root: string };
  let exec: AgentExec;
  const vm = () => ({ id: served.vmId, ip: '127.0.0.1' });

  before(async () => {
    child = spawn('python3', [join(ROOT_DIR, 'test', 'guest', 'serve_agent.py')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-20_000)));
    served = await new Promise((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`the agent did not start: ${stderr}`)), 60_000);
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) {
          clearTimeout(t);
          resolve(JSON.parse(out.split('\n')[0]!));
        }
      });
    });
    exec = new AgentExec({ port: 0, tokenFor: () => served.token, baseUrl: () => served.url, graceMs: 5000 });
  });
  after(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin!.end();
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(t);
  });

  interface Ran {
    out: Buffer;
    err: string;
    end: ExecEnd;
  }
  const collect = (ch: ExecChannel): Promise<Ran> =>
    new Promise((resolve) => {
      const out: Buffer[] = [];
      let err = '';
      ch.onOutput((s, d) => (s === 'stdout' ? out.push(d) : (err += d.toString())));
      ch.onEnd((end) => resolve({ out: Buffer.concat(out), err, end }));
    });
  const run = async (argv: string[], input?: Buffer | string, timeoutSec = 60): Promise<Ran> => {
    const ch = await exec.open(vm(), { argv, timeoutSec }, AbortSignal.timeout(60_000));
    const done = collect(ch);
    if (input !== undefined) ch.write(Buffer.from(input));
    ch.endInput();
    return done;
  };
  const exitOf = (r: Ran) => ('exit' in r.end ? r.end.exit : assert.fail(`no exit: ${JSON.stringify(r.end)}`));

  test('exit codes, a program that is not there (127), a signal', async () => {
    assert.deepEqual(exitOf(await run(['sh', '-c', 'exit 7'])), { code: 7, signal: null, timedOut: false });
    const missing = await run(['no-such-program']);
    assert.deepEqual(exitOf(missing), { code: 127, signal: null, timedOut: false });
    assert.match(missing.err, /^fcm: cannot run no-such-program: No such file or directory\n$/);
    assert.deepEqual(exitOf(await run(['sh', '-c', 'kill -TERM $$'])), { code: null, signal: 'TERM', timedOut: false });
  });

  test('stdin and its end; stdout apart from stderr; no shell unless asked', async () => {
    const wc = await run(['wc', '-l'], 'a\nb\n');
    assert.equal(wc.out.toString().trim(), '2');
    const both = await run(['sh', '-c', 'echo out; echo err >&2']);
    assert.deepEqual([both.out.toString(), both.err], ['out\n', 'err\n']);
    const literal = await run(['echo', '$HOME', ';', 'id']);
    assert.equal(literal.out.toString(), '$HOME ; id\n');
  });

  test("the app's config vars, PORT and DYNO, as the app user in its home before any deploy", async () => {
    const body = Buffer.from(JSON.stringify({ vars: { GREETING: 'hej' } }));
    await new Promise<void>((resolve, reject) => {
      const req = request(`${served.url}/v1/env`, { method: 'PUT', headers: { authorization: `Bearer ${served.token}`, 'content-type': 'application/json', 'content-length': String(body.length) } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 204 ? resolve() : reject(new Error(String(res.statusCode)))));
      });
      req.on('error', reject);
      req.end(body);
    });
    const r = await run(['sh', '-c', 'echo "$GREETING $PORT $DYNO"; id -u; pwd']);
    const [vars, uid, cwd] = r.out.toString().trim().split('\n');
    assert.equal(vars, 'hej 8000 run.1');
    assert.notEqual(uid, String(process.getuid!()));
    assert.equal(cwd, join(served.root, 'home'));
  });

  test('megabytes both ways, intact, with the reader pausing (backpressure reaches the command)', async () => {
    const data = randomBytes(5 * 1024 * 1024);
    const ch = await exec.open(vm(), { argv: ['cat'], timeoutSec: 120 }, AbortSignal.timeout(60_000));
    const out: Buffer[] = [];
    let paused = 0;
    const done = new Promise<ExecEnd>((resolve) => ch.onEnd(resolve));
    ch.onOutput((_s, d) => {
      out.push(d);
      if (out.length % 8 === 0) {
        paused++;
        ch.pause();
        setTimeout(() => ch.resume(), 5);
      }
    });
    for (let i = 0; i < data.length; i += 256 * 1024) {
      if (!ch.write(data.subarray(i, i + 256 * 1024))) await new Promise<void>((r) => ch.onDrain(r));
    }
    ch.endInput();
    assert.ok('exit' in (await done));
    const got = Buffer.concat(out);
    assert.equal(got.length, data.length);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(data).digest('hex'));
    assert.ok(paused > 0);
  });

  test('a signal reaches the process group; the deadline kills it (timedOut)', async () => {
    // Output that comes with the 101 (here at once) waits for the subscriber: none is lost.
    const ch = await exec.open(vm(), { argv: ['sh', '-c', 'echo ready; sleep 1000'], timeoutSec: 60 }, AbortSignal.timeout(60_000));
    await new Promise((r) => setTimeout(r, 500));
    const ended = new Promise<ExecEnd>((resolve) => ch.onEnd(resolve));
    await new Promise<void>((resolve) =>
      ch.onOutput((_s, d) => {
        assert.equal(d.toString(), 'ready\n');
        resolve();
      }),
    );
    ch.signal('INT');
    assert.deepEqual(exitOf({ out: Buffer.alloc(0), err: '', end: await ended }), { code: null, signal: 'INT', timedOut: false });
    assert.deepEqual(exitOf(await run(['sleep', '1000'], undefined, 1)), { code: null, signal: 'KILL', timedOut: true });
  });

  test('closing the channel (the client left) kills the command; at most 4 at once', async () => {
    const pidFile = join(served.root, 'home', 'run.pid');
    const channels: ExecChannel[] = [];
    for (let i = 0; i < 4; i++) {
      const ch = await exec.open(vm(), { argv: ['sh', '-c', `echo $$ > ${pidFile}.${i}; echo up; exec sleep 1000`], timeoutSec: 600 }, AbortSignal.timeout(60_000));
      await new Promise<void>((resolve) => ch.onOutput(() => resolve()));
      channels.push(ch);
    }
    const fifth = await exec.open(vm(), { argv: ['true'], timeoutSec: 10 }, AbortSignal.timeout(60_000)).then(() => null, (e: unknown) => e);
    assert.ok(fifth instanceof ExecRefused && fifth.code === 'too_many_runs', String(fifth));
    const { readFileSync } = await import('node:fs');
    const pids = channels.map((_c, i) => Number(readFileSync(`${pidFile}.${i}`, 'utf8')));
    for (const ch of channels) ch.close();
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 20_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(pids.filter(alive), [], 'every command was killed with its connection');
    // and their slots are free again
    let ok: Ran | null = null;
    while (!ok && Date.now() < deadline) ok = await run(['true']).catch(() => null);
    assert.ok(ok && 'exit' in ok.end);
  });
});
