/**
 * The GuestExec contract, run on the real driver (AgentExec against the real
 * guest agent on loopback, test/guest/serve_agent.py) and on its twin
 * (MemoryExec), so that tests built on the twin (test/api/run.test.ts) hold
 * for the real thing.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ExecRefused, type ExecChannel, type ExecEnd, type GuestExec } from '../../daemon/core/ports/guest-exec.js';
import { AgentExec } from '../../daemon/drivers/agent-exec.js';
import { MemoryExec } from '../../daemon/drivers/memory/memory-exec.js';
import { ROOT_DIR } from '../helpers/agent-contract.js';

interface Subject {
  exec: GuestExec;
  vm: { id: string; ip: string };
  close(): Promise<void>;
}

function contract(name: string, make: () => Promise<Subject>, skip: string | false = false): void {
  describe(`GuestExec contract: ${name}`, { skip }, () => {
    let s: Subject;
    before(async () => {
      s = await make();
    });
    after(async () => s?.close());

    const open = (argv: string[], timeoutSec = 60) => s.exec.open(s.vm, { argv, timeoutSec }, AbortSignal.timeout(30_000));
    const collect = (ch: ExecChannel) =>
      new Promise<{ out: string; err: string; end: ExecEnd }>((resolve) => {
        let out = '';
        let err = '';
        ch.onEnd((end) => resolve({ out, err, end }));
        ch.onOutput((st, d) => (st === 'stdout' ? (out += d.toString()) : (err += d.toString())));
      });
    const run = async (argv: string[], input?: string, timeoutSec = 60) => {
      const ch = await open(argv, timeoutSec);
      const r = collect(ch);
      if (input) ch.write(Buffer.from(input));
      ch.endInput();
      return r;
    };

    test('exit codes: true 0, false 1, sh -c "exit 7" 7, a missing program 127 with a line on stderr', async () => {
      assert.deepEqual((await run(['true'])).end, { exit: { code: 0, signal: null, timedOut: false } });
      assert.deepEqual((await run(['false'])).end, { exit: { code: 1, signal: null, timedOut: false } });
      assert.deepEqual((await run(['sh', '-c', 'exit 7'])).end, { exit: { code: 7, signal: null, timedOut: false } });
      const missing = await run(['no-such-program']);
      assert.deepEqual(missing.end, { exit: { code: 127, signal: null, timedOut: false } });
      assert.equal(missing.err, 'fcm: cannot run no-such-program: No such file or directory\n');
    });

    test('stdout, stderr and stdin with its end', async () => {
      assert.equal((await run(['echo', 'a', 'b'])).out, 'a b\n');
      const err = await run(['sh', '-c', 'echo oops >&2']);
      assert.deepEqual([err.out, err.err], ['', 'oops\n']);
      const cat = await run(['cat'], 'x\ny\n');
      assert.deepEqual([cat.out, cat.end], ['x\ny\n', { exit: { code: 0, signal: null, timedOut: false } }]);
    });

    test('output is held until someone subscribes', async () => {
      const ch = await open(['echo', 'late']);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await collect(ch)).out, 'late\n');
    });

    test('a signal ends the command; so does its deadline (timedOut)', async () => {
      const ch = await open(['sleep', '1000']);
      const r = collect(ch);
      setTimeout(() => ch.signal('TERM'), 200);
      assert.deepEqual((await r).end, { exit: { code: null, signal: 'TERM', timedOut: false } });
      assert.deepEqual((await run(['sleep', '1000'], undefined, 1)).end, { exit: { code: null, signal: 'KILL', timedOut: true } });
    });

    test('at most 4 at once per VM; closing frees a place', async () => {
      const chans = [];
      for (let i = 0; i < 4; i++) {
        const ch = await open(['sleep', '1000']);
        ch.onOutput(() => {});
        chans.push(ch);
      }
      const fifth = await open(['true']).then(() => null, (e: unknown) => e);
      assert.ok(fifth instanceof ExecRefused && fifth.code === 'too_many_runs', String(fifth));
      for (const ch of chans) ch.close();
      // The guest frees the place once it has seen the connection go: poll.
      const deadline = Date.now() + 20_000;
      let again: unknown = null;
      while (Date.now() < deadline) {
        again = await open(['true']).catch((e: unknown) => e);
        if (!(again instanceof ExecRefused)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(!(again instanceof Error), String(again));
      await collect(again as ExecChannel);
    });
  });
}

contract('MemoryExec', async () => ({ exec: new MemoryExec(), vm: { id: 'vm_000000000001', ip: '10.0.0.2' }, close: async () => {} }));

let agent: ChildProcess | null = null;
contract(
  'AgentExec with the real guest agent',
  async () => {
    agent = spawn('python3', [join(ROOT_DIR, 'test', 'guest', 'serve_agent.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
    const served = await new Promise<{ url: string; token: string; vmId: string }>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error('the agent did not start')), 60_000);
      agent!.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) {
          clearTimeout(t);
          resolve(JSON.parse(out.split('\n')[0]!));
        }
      });
    });
    return {
      exec: new AgentExec({ port: 0, tokenFor: () => served.token, baseUrl: () => served.url }),
      vm: { id: served.vmId, ip: '127.0.0.1' },
      close: async () => {
        if (!agent || agent.exitCode !== null) return;
        const exited = new Promise((r) => agent!.once('exit', r));
        agent.stdin!.end();
        await exited;
      },
    };
  },
  process.getuid?.() !== 0 ? 'the guest agent runs commands as another uid: needs root' : false,
);
