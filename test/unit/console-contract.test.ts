/**
 * The Console port contract: the real driver (SocketConsole, against a fake
 * QEMU chardev — a Unix socket server that serves one client at a time and
 * logs everything printed, attached or not — and the fake guest agent, which
 * refuses a resize that rootfs/guest/agent-openapi.yaml does not allow) and
 * the in-memory twin (MemoryConsole) pass the same suite.
 */
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Console, ConsoleLink, ConsoleTarget, TermSize } from '../../daemon/core/ports/console.js';
import { MemoryConsole } from '../../daemon/drivers/memory/memory-console.js';
import { SocketConsole } from '../../daemon/drivers/console-socket.js';
import { startFakeAgent } from '../helpers/fake-agent.js';
import { tempDir } from './cli/io-helpers.js';

/** The guest side, as a test drives it. */
interface FakeGuest {
  print(s: string): void;
  typed(): string;
  /** The hypervisor goes away (open links close; connect fails). */
  stop(): Promise<void>;
  resizes(): TermSize[];
  failResizes(): void;
}

interface Subject {
  console: Console;
  vm: ConsoleTarget;
  guest: FakeGuest;
  close(): Promise<void>;
}

/** QEMU's `-chardev socket,server=on,wait=off,logfile=...`, in miniature. */
async function qemuLikeChardev(dir: string) {
  const socketPath = join(dir, 'console.sock');
  const logPath = join(dir, 'console.log');
  let current: Socket | null = null;
  let typed = '';
  const waiting: Socket[] = [];
  const serve = (s: Socket) => {
    current = s;
    s.on('data', (b) => (typed += b.toString()));
    s.on('error', () => {});
    s.on('close', () => {
      current = null;
      const next = waiting.shift();
      if (next) serve(next);
    });
  };
  const server: Server = createServer((s) => (current ? waiting.push(s) : serve(s)));
  await new Promise<void>((r) => server.listen(socketPath, r));
  return {
    socketPath,
    logPath,
    print: (s: string) => {
      appendFileSync(logPath, s);
      current?.write(s);
    },
    typed: () => typed,
    stop: async () => {
      current?.destroy();
      for (const w of waiting) w.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const subjects: Record<string, () => Promise<Subject>> = {
  SocketConsole: async () => {
    const dir = tempDir('fcm-console-contract-');
    const chardev = await qemuLikeChardev(dir);
    const agent = await startFakeAgent({ token: (id) => `agent-token-${id}`, vmId: 'vm_1' });
    const c = new SocketConsole({
      endpoint: (id) => (id === 'vm_1' ? { socketPath: chardev.socketPath, logPath: chardev.logPath } : { socketPath: join(dir, 'nope.sock'), logPath: join(dir, 'nope.log') }),
      agentPort: Number(new URL(agent.url).port),
      agentToken: (id) => `agent-token-${id}`,
    });
    return {
      console: c,
      vm: { id: 'vm_1', name: 'one', ip: '127.0.0.1' },
      guest: {
        print: chardev.print,
        typed: chardev.typed,
        stop: chardev.stop,
        resizes: () => agent.resizes.map(({ rows, cols }) => ({ cols, rows })),
        failResizes: agent.failResizes,
      },
      close: async () => {
        await chardev.stop().catch(() => {});
        await agent.close();
        assert.deepEqual(agent.violations, [], 'resize requests stay within agent-openapi.yaml');
      },
    };
  },
  MemoryConsole: async () => {
    const c = new MemoryConsole();
    const g = c.guest('vm_1');
    g.onInput = () => {};
    return {
      console: c,
      vm: { id: 'vm_1', name: 'one', ip: '127.0.0.1' },
      guest: {
        print: (s) => g.print(s),
        typed: () => g.input.toString(),
        stop: async () => {
          g.up = false;
          g.hangup();
        },
        resizes: () => g.resizes,
        failResizes: () => (g.failResize = 'agent said no'),
      },
      close: async () => {},
    };
  },
};

function collect(link: ConsoleLink) {
  let got = '';
  let closed = 0;
  link.onData((b) => (got += b.toString()));
  link.onClose(() => closed++);
  return { text: () => got, closes: () => closed };
}

async function until(fn: () => boolean, what: string, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const [name, make] of Object.entries(subjects)) {
  describe(`Console contract: ${name}`, () => {
    const open: Subject[] = [];
    const subject = async () => {
      const s = await make();
      open.push(s);
      return s;
    };
    after(async () => {
      for (const s of open) await s.close();
    });

    test('bytes both ways over a link', async () => {
      const s = await subject();
      const link = await s.console.connect(s.vm);
      const c = collect(link);
      s.guest.print('hello from the guest\r\n');
      await until(() => c.text() === 'hello from the guest\r\n', 'guest output arrives');
      assert.equal(link.write(Buffer.from('ls\r')), true);
      await until(() => s.guest.typed() === 'ls\r', 'input reaches the guest');
      link.close();
      await until(() => c.closes() === 1, 'onClose after close()');
    });

    test('tail: everything printed, attached or not, cut at a line boundary; nothing for an unknown VM', async () => {
      const s = await subject();
      s.guest.print('boot line 1\r\nboot line 2\r\n');
      const link = await s.console.connect(s.vm);
      s.guest.print('root@one:~# ');
      link.close();
      s.guest.print('\r\nprinted with nobody attached\r\n');
      const last = 'printed with nobody attached\r\n';
      assert.equal((await s.console.tail(s.vm, 1 << 20)).toString(), `boot line 1\r\nboot line 2\r\nroot@one:~# \r\n${last}`);
      assert.equal((await s.console.tail(s.vm, last.length + 2)).toString(), last, 'starts after a newline');
      assert.equal((await s.console.tail(s.vm, last.length)).toString(), last, 'exactly at a boundary');
      assert.equal((await s.console.tail(s.vm, 20)).toString(), last.slice(-20), 'no line starts inside: the raw window');
      assert.equal((await s.console.tail({ id: 'vm_2', name: 'two', ip: '127.0.0.1' }, 100)).length, 0);
    });

    test('the hypervisor going away closes the link (onClose once, also when registered late); connect then fails', async () => {
      const s = await subject();
      const link = await s.console.connect(s.vm);
      const c = collect(link);
      await s.guest.stop();
      await until(() => c.closes() === 1, 'link closed');
      let late = 0;
      link.onClose(() => late++);
      await until(() => late === 1, 'late onClose fires');
      assert.equal(link.write(Buffer.from('x')), false);
      await assert.rejects(s.console.connect(s.vm));
    });

    test('resize reaches the guest with the VM\'s agent credentials; a refusal rejects', async () => {
      const s = await subject();
      await s.console.resize(s.vm, { cols: 120, rows: 40 });
      assert.deepEqual(s.guest.resizes(), [{ cols: 120, rows: 40 }]);
      s.guest.failResizes();
      await assert.rejects(s.console.resize(s.vm, { cols: 90, rows: 30 }));
    });
  });
}

test('SocketConsole: like QEMU, a second client waits until the first leaves (why the daemon holds one link per VM)', async () => {
  const dir = tempDir('fcm-console-one-');
  const chardev = await qemuLikeChardev(dir);
  const c = new SocketConsole({ endpoint: () => ({ socketPath: chardev.socketPath, logPath: chardev.logPath }), agentPort: 9, agentToken: () => '' });
  const vm = { id: 'vm_1', name: 'one', ip: '127.0.0.1' };
  try {
    const a = collect(await c.connect(vm));
    const bLink = await c.connect(vm);
    const b = collect(bLink);
    chardev.print('only-a\r\n');
    await until(() => a.text().includes('only-a'), 'a gets it');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(b.text(), '', 'b is not served yet');
    writeFileSync(join(dir, 'unused'), '');
    bLink.close();
  } finally {
    await chardev.stop();
  }
});
