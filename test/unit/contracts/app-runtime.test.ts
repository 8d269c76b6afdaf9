/**
 * The AppRuntime contract (the guest agent's app API v1): the in-memory twin
 * and the real HTTP client (GuestAgentRuntime) against a fake agent server
 * pass the same suite, so what the deploy tests learn from the twin holds on
 * the wire. The fake refuses (and records) any request or answer that
 * rootfs/guest/agent-openapi.yaml does not allow; none may occur.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { AppRuntimeError, type AppRuntime, type AppTarget } from '../../../daemon/core/ports/app-runtime.js';
import { GuestAgentRuntime } from '../../../daemon/drivers/guest-agent-runtime.js';
import { MemoryAppRuntime } from '../../../daemon/drivers/memory/memory-deploys.js';
import { startFakeAgent, type FakeAgent } from '../../helpers/fake-agent.js';
import { refusedPort } from '../../helpers/ports.js';
import { makeTar } from '../../helpers/tar.js';

const VM: AppTarget = { id: 'vm_0123456789ab', ip: '127.0.0.1' };
const token = (id: string) => `tok-${id}`;
const PY = { 'requirements.txt': '', 'app.py': 'print(1)\n', Procfile: 'web: gunicorn app:app\n' };
const tar = (files: Record<string, string>) => Readable.from([makeTar(files)]);
const SHA = 'a'.repeat(40);

let agent: FakeAgent | null = null;
after(async () => {
  const violations = agent?.violations ?? [];
  await agent?.close();
  assert.deepEqual(violations, [], 'the client and the fake stay within agent-openapi.yaml');
});

/** `hold(fn)`: every release operation awaits fn() once it holds the VM's lock (null: no hold). */
type Hold = (fn: (() => Promise<void>) | null) => void;
const impls: [string, () => Promise<{ rt: AppRuntime; unreachable: () => Promise<AppRuntime>; hold: Hold }>][] = [
  [
    'memory',
    async () => {
      const rt = new MemoryAppRuntime();
      return {
        rt,
        hold: (fn) => (rt.whileLocked = fn),
        unreachable: async () => Object.assign(new MemoryAppRuntime(), { unreachable: true }),
      };
    },
  ],
  [
    'guest agent over HTTP (fake agent)',
    async () => {
      agent ??= await startFakeAgent({ token });
      const a = agent;
      a.runtime.builds.clear();
      a.runtime.current.clear();
      a.runtime.whileLocked = null;
      return {
        rt: new GuestAgentRuntime({ port: 7611, tokenFor: token, baseUrl: (vm) => a.baseUrlFor(vm) }),
        hold: (fn) => (a.runtime.whileLocked = fn),
        unreachable: async () => {
          const port = await closedPort();
          return new GuestAgentRuntime({ port, tokenFor: token });
        },
      };
    },
  ],
];

for (const [name, make] of impls) {
  describe(`AppRuntime contract: ${name}`, () => {
    test('build streams Heroku-style lines and reports buildpack and processes', async () => {
      const { rt } = await make();
      await rt.putEnv(VM, { GREETING: 'hi' });
      const lines: string[] = [];
      const r = await rt.build(VM, 1, SHA, tar(PY), (l) => lines.push(l));
      assert.deepEqual(r, { ok: true, buildpack: 'python', processes: { web: 'gunicorn app:app' } });
      assert.ok(lines.includes('-----> Detected Python (requirements.txt)'), lines.join('\n'));
      assert.ok(lines.includes('-----> Starting: gunicorn app:app'));
      assert.ok(!lines.some((l) => l.startsWith('fcm-result')), 'the result line is not relayed');
    });

    test('a failing install and a web process that does not come up are failed results, not errors', async () => {
      const { rt } = await make();
      const bad = await rt.build(VM, 1, SHA, tar({ ...PY, FAIL_BUILD: '' }), () => {});
      assert.equal(bad.ok, false);
      assert.equal(!bad.ok && bad.code, 'build_failed');
      const down = await rt.build(VM, 2, SHA, tar({ ...PY, FAIL_START: '' }), () => {});
      assert.equal(!down.ok && down.code, 'start_failed');
    });

    test('a tree without a web process deploys, and says nothing will answer (as the guest does)', async () => {
      const { rt } = await make();
      const lines: string[] = [];
      const r = await rt.build(VM, 1, SHA, tar({ 'index.js': '' }), (l) => lines.push(l));
      assert.deepEqual(r, { ok: true, buildpack: 'none', processes: {} });
      assert.ok(lines.some((l) => l.startsWith('-----> No web process')), lines.join('\n'));
    });

    test('activate an earlier build; an unknown build is release_not_found; restart', async () => {
      const { rt } = await make();
      assert.equal((await rt.build(VM, 1, SHA, tar(PY), () => {})).ok, true);
      assert.equal((await rt.build(VM, 2, SHA, tar({ ...PY, 'b.txt': '' }), () => {})).ok, true);
      const lines: string[] = [];
      assert.equal((await rt.activate(VM, 1, (l) => lines.push(l))).ok, true);
      assert.ok(lines.some((l) => l.startsWith('-----> ')));
      await assert.rejects(rt.activate(VM, 9, () => {}), (e: unknown) => e instanceof AppRuntimeError && e.code === 'release_not_found');
      assert.equal((await rt.restart(VM, () => {})).ok, true);
    });

    test('restart with nothing deployed succeeds and says so', async () => {
      const { rt } = await make();
      const lines: string[] = [];
      assert.deepEqual(await rt.restart({ ...VM, id: 'vm_0000000000ff' }, (l) => lines.push(l)), { ok: true, buildpack: 'none', processes: {} });
      assert.deepEqual(lines, ['-----> Nothing deployed yet; nothing to restart']);
    });

    test('one release operation at a time: a second one gets deploy_in_progress', async () => {
      const { rt, hold } = await make();
      assert.equal((await rt.build(VM, 1, SHA, tar(PY), () => {})).ok, true);
      // The first operation is held open once it has the lock (not "slow for 300 ms, check after 100":
      // on a loaded machine the check came after the first had finished).
      let release!: () => void;
      const holding = new Promise<void>((entered) => hold(() => new Promise<void>((r) => ((release = r), entered()))));
      const first = rt.restart(VM, () => {});
      await holding;
      hold(null);
      await assert.rejects(rt.restart(VM, () => {}), (e: unknown) => e instanceof AppRuntimeError && e.code === 'deploy_in_progress');
      release();
      assert.equal((await first).ok, true);
    });

    test('logs: the last lines as text', async () => {
      const { rt } = await make();
      await rt.build(VM, 1, SHA, tar(PY), () => {});
      const s = await rt.logs(VM, { lines: 10, follow: false }, new AbortController().signal);
      let text = '';
      for await (const c of s) text += String(c);
      assert.match(text, /started v1/);
    });

    test('an agent that does not answer → AppRuntimeError unreachable', async () => {
      const { unreachable } = await make();
      const rt = await unreachable();
      await assert.rejects(rt.putEnv(VM, {}), (e: unknown) => e instanceof AppRuntimeError && e.code === 'unreachable');
    });
  });
}

test('GuestAgentRuntime: a wrong token is refused (the agent checks it)', async () => {
  agent ??= await startFakeAgent({ token });
  const a = agent;
  const rt = new GuestAgentRuntime({ port: 7611, tokenFor: () => 'wrong', baseUrl: (vm) => a.baseUrlFor(vm) });
  await assert.rejects(rt.putEnv(VM, {}), (e: unknown) => e instanceof AppRuntimeError && e.code === 'unauthorized');
});

test('GuestAgentRuntime: a stream that ends without a result line is an error', async () => {
  const { createServer: http } = await import('node:http');
  const s = http((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('-----> Building\nfcm-result: {"ok":true}\n       but more output after it\n');
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  try {
    const rt = new GuestAgentRuntime({ port, tokenFor: token });
    const lines: string[] = [];
    await assert.rejects(rt.restart(VM, (l) => lines.push(l)), (e: unknown) => e instanceof AppRuntimeError && e.code === 'unreachable');
    // A result-looking line that is not last is output, not a result.
    assert.deepEqual(lines, ['-----> Building', 'fcm-result: {"ok":true}', '       but more output after it']);
  } finally {
    s.close();
  }
});

/** A port where connections are refused, held so (nothing else can listen there meanwhile). */
const closedPort = refusedPort;
