/**
 * GuestAgentRuntime against hostile agents on loopback (real sockets, small
 * bounds so each case takes milliseconds): every answer is bounded in bytes
 * and time, fails with a clear AppRuntimeError, and streamed output is read
 * at the pace of its sink. The same attacks on real guests, through the
 * whole daemon: test/reliability/hostile-guest.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { AppRuntimeError, type AppTarget } from '../../daemon/core/ports/app-runtime.js';
import { GuestAgentRuntime, type GuestAgentRuntimeOptions } from '../../daemon/drivers/guest-agent-runtime.js';
import { eventually } from '../helpers/wait.js';

const VM: AppTarget = { id: 'vm_0123456789ab', ip: '127.0.0.1' };
const MiB = 1024 * 1024;

interface Hostile {
  port: number;
  /** Bytes the agent managed to send on the current connection. */
  sent: () => number;
  /** Whether the current connection is closed on the agent's side (it can send nothing more). */
  cut: () => boolean;
  close(): Promise<void>;
}

/** An "agent" that answers every request with `behave(socket)` after reading its head. */
async function hostile(behave: (s: Socket, count: (n: number) => void) => void): Promise<Hostile> {
  let sent = 0;
  let current: Socket | null = null;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    current = s;
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    let head = '';
    const onData = (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      sent = 0;
      behave(s, (n) => (sent += n));
    };
    s.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    sent: () => sent,
    cut: () => current !== null && current.destroyed,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const open: Hostile[] = [];
after(async () => {
  for (const h of open) await h.close();
});

async function runtimeFor(behave: Parameters<typeof hostile>[0], o: Partial<GuestAgentRuntimeOptions> = {}) {
  const h = await hostile(behave);
  open.push(h);
  const rt = new GuestAgentRuntime({ port: h.port, tokenFor: () => 't', baseUrl: () => `http://127.0.0.1:${h.port}`, callTimeoutMs: 500, ...o });
  return { rt, h };
}

/** Writes `chunk` as fast as the socket takes it, until it closes. */
function flood(s: Socket, chunk: Buffer, count: (n: number) => void): void {
  const more = () => {
    while (!s.destroyed) {
      count(chunk.length);
      if (!s.write(chunk)) return void s.once('drain', more);
    }
  };
  more();
}

const HEAD_200 = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n';

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<AppRuntimeError> {
  let err: unknown;
  await p.then(
    () => assert.fail('resolved'),
    (e: unknown) => (err = e),
  );
  assert.ok(err instanceof AppRuntimeError, String(err));
  assert.equal(err.code, code, err.message);
  assert.match(err.message, re);
  return err;
}

describe('guest agent answers are bounded', () => {
  test('a stream of newline-free garbage fails at the total bound, and the connection is cut', async () => {
    const { rt, h } = await runtimeFor((s, count) => {
      s.write(HEAD_200);
      flood(s, Buffer.alloc(64 * 1024, 'x'), count);
    }, { stream: { maxTotalBytes: 4 * MiB }, callTimeoutMs: 30_000 });
    const lines: string[] = [];
    await rejectsWith(rt.restart(VM, (l) => lines.push(l)), 'output_too_large', /more than 4 MiB of output/);
    assert.deepEqual(lines, []);
    // The connection is gone: the agent's end closes (its writes fail), it is not merely left unread.
    await eventually('the agent\'s connection is cut', async () => ({ cut: h.cut(), sent: h.sent() }), (v) => v.cut, 10_000, 20);
  });

  test('an agent that never answers fails at the call deadline', async () => {
    const { rt } = await runtimeFor(() => {});
    const t0 = Date.now();
    await rejectsWith(rt.restart(VM, () => {}), 'timeout', /no complete answer within 500 ms/);
    assert.ok(Date.now() - t0 < 5000);
  });

  test('an agent that answers one byte at a time keeps the idle timer alive but not the deadline', async () => {
    const { rt } = await runtimeFor((s) => {
      s.write(HEAD_200);
      const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('x')), 20);
    });
    await rejectsWith(rt.restart(VM, () => {}), 'timeout', /no complete answer within 500 ms/);
  });

  test('the build has its own (longer) deadline', async () => {
    const { rt } = await runtimeFor(() => {}, { callTimeoutMs: 10_000, buildTimeoutMs: 300 });
    const { Readable } = await import('node:stream');
    await rejectsWith(rt.build(VM, 1, 'a'.repeat(40), Readable.from([Buffer.alloc(10)]), () => {}), 'timeout', /within 300 ms/);
  });

  test('a 100 MiB problem+json answer is refused at 64 KiB, before JSON.parse', async () => {
    const { rt, h } = await runtimeFor((s, count) => {
      s.write(`HTTP/1.1 409 Conflict\r\nContent-Type: application/problem+json\r\nContent-Length: ${100 * MiB}\r\n\r\n{"code":"x","detail":"`);
      flood(s, Buffer.alloc(64 * 1024, 'a'), count);
    }, { callTimeoutMs: 10_000 });
    await rejectsWith(rt.putEnv(VM, {}), 'output_too_large', /answer larger than 65536 bytes/);
    // Once the connection is cut the count is final: the rest was never read.
    await eventually('the agent\'s connection is cut', async () => ({ cut: h.cut(), sent: h.sent() }), (v) => v.cut, 10_000, 20);
    assert.ok(h.sent() < 50 * MiB, `the rest was not read (${h.sent()} bytes sent)`);
  });

  test('a malformed or ill-typed problem body is not trusted: a generic error with the status', async () => {
    for (const body of ['{"code": 5, "detail": [1, 2', '{"code":"Not A Code!","detail":{"x":1}}', '[1,2,3]']) {
      const { rt } = await runtimeFor((s) => {
        s.end(`HTTP/1.1 409 Conflict\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      });
      await rejectsWith(rt.putEnv(VM, {}), 'http_409', /^HTTP 409$/);
    }
    const { rt } = await runtimeFor((s) => {
      const body = JSON.stringify({ code: 'deploy_in_progress', detail: 'busy' });
      s.end(`HTTP/1.1 409 Conflict\r\nContent-Type: application/problem+json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    await rejectsWith(rt.putEnv(VM, {}), 'deploy_in_progress', /^busy$/);
  });

  test('a 2xx answer to a small call with a body that never ends fails at the deadline', async () => {
    const { rt } = await runtimeFor((s) => {
      s.write(HEAD_200);
      const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write('.')), 20);
    });
    await rejectsWith(rt.putEnv(VM, {}), 'timeout', /within 500 ms/);
  });

  test('huge response headers are refused', async () => {
    const { rt } = await runtimeFor((s) => {
      s.write(`HTTP/1.1 200 OK\r\nX-Junk: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    });
    await rejectsWith(rt.putEnv(VM, {}), 'unreachable', /header/i);
  });

  test('streamed output is read at the sink\'s pace: a sink that waits stops the agent (backpressure)', async () => {
    const line = Buffer.from(`${'y'.repeat(1023)}\n`);
    const { rt, h } = await runtimeFor((s, count) => {
      s.write(HEAD_200);
      // 64 MiB of lines, then the result: far more than the socket buffers hold.
      let left = 64 * 1024;
      const more = () => {
        while (left > 0) {
          left--;
          count(line.length);
          if (!s.write(line)) return void s.once('drain', more);
        }
        s.end('fcm-result: {"ok":true}\n');
      };
      more();
    }, { callTimeoutMs: 60_000, stream: { maxTotalBytes: 128 * MiB } });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let seen = 0;
    const done = rt.restart(VM, () => {
      seen++;
      return seen === 1 ? gate : undefined;
    });
    await new Promise((r) => setTimeout(r, 500));
    const sentWhilePaused = h.sent();
    const seenWhilePaused = seen;
    assert.ok(sentWhilePaused < 32 * MiB, `the agent got ${sentWhilePaused} bytes out while the sink waited`);
    release();
    assert.deepEqual(await done, { ok: true, buildpack: null, processes: {} });
    assert.equal(seen, 64 * 1024);
    assert.ok(seenWhilePaused < seen);
  });

  test('a sink that fails (the client is gone) fails the call', async () => {
    const { rt } = await runtimeFor((s) => {
      s.write(HEAD_200);
      s.end('a\nb\nfcm-result: {"ok":true}\n');
    });
    await rejectsWith(rt.restart(VM, () => Promise.reject(new Error('the pusher left'))), 'client_gone', /the pusher left/);
  });

  test('logs without follow: at most maxLogBytes, then a line that says the rest was cut', async () => {
    const { rt } = await runtimeFor((s, count) => {
      s.write(HEAD_200);
      flood(s, Buffer.alloc(16 * 1024, 'z'), count);
    }, { maxLogBytes: 100_000 });
    const stream = await rt.logs(VM, { lines: 10, follow: false }, new AbortController().signal);
    let text = '';
    for await (const c of stream) text += (c as Buffer).toString('latin1');
    assert.equal(text.indexOf('[fcm:'), 100_001);
    assert.match(text.slice(100_000), /^\n\[fcm: the log answer passed 98 KiB; the rest was not read\]\n$/);
  });

  test('logs without follow from an agent that stalls: the text ends at the deadline, saying so', async () => {
    const { rt } = await runtimeFor((s) => {
      s.write(`${HEAD_200}some lines\n`);
    });
    const stream = await rt.logs(VM, { lines: 10, follow: false }, new AbortController().signal);
    let text = '';
    for await (const c of stream) text += (c as Buffer).toString('latin1');
    assert.equal(text, 'some lines\n\n[fcm: the guest agent did not finish the log answer within the deadline]\n');
  });
});

test('config: the guest bounds default to safe values and refuse nonsense', async () => {
  const { loadConfig, ConfigError } = await import('../../daemon/config.js');
  const c = loadConfig({});
  assert.deepEqual(c.agent, { outputMib: 32, buildTimeoutMs: 30 * 60_000, callTimeoutMs: 5 * 60_000 });
  assert.equal(c.clientStallMs, 60_000);
  assert.equal(c.consoleLogMib, 4);
  assert.equal(loadConfig({ FCM_CONSOLE_LOG_MIB: '16' }).consoleLogMib, 16);
  for (const env of [{ FCM_CONSOLE_LOG_MIB: '0' }, { FCM_AGENT_OUTPUT_MIB: 'lots' }, { FCM_AGENT_CALL_TIMEOUT_MS: '10' }, { FCM_CLIENT_STALL_MS: '-1' }]) {
    assert.throws(() => loadConfig(env), ConfigError, JSON.stringify(env));
  }
});
