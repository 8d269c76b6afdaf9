/**
 * The Console port over what the hypervisors expose (ConsoleEndpoint): a
 * Unix stream socket carrying the serial console bytes (QEMU's socket
 * chardev serves one client at a time; Firecracker's console holder any
 * number) and an append-only console log. The window size is set by the
 * guest agent (`POST /v1/console/resize`, bearer = the VM's agent token),
 * since a serial line has none.
 */
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { open } from 'node:fs/promises';
import type { Console, ConsoleLink, ConsoleTarget, TermSize } from '../core/console.js';
import { tailAtLineBoundary } from '../core/console-scrollback.js';
import type { ConsoleEndpoint } from '../core/ports.js';

export interface SocketConsoleDeps {
  /** The hypervisor's console endpoint for a VM id. */
  endpoint(vmId: string): ConsoleEndpoint;
  agentPort: number;
  /** The VM's agent token (AgentKeys.tokenFor). */
  agentToken(vmId: string): string;
  connectTimeoutMs?: number;
  resizeTimeoutMs?: number;
}

export class SocketConsole implements Console {
  constructor(private readonly d: SocketConsoleDeps) {}

  connect(vm: ConsoleTarget): Promise<ConsoleLink> {
    const { socketPath } = this.d.endpoint(vm.id);
    return new Promise((resolve, reject) => {
      const sock = createConnection({ path: socketPath });
      const timer = setTimeout(() => sock.destroy(new Error(`console socket ${socketPath}: connect timed out`)), this.d.connectTimeoutMs ?? 3000);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      sock.once('error', fail);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.off('error', fail);
        sock.on('error', () => {}); // 'close' follows; the session reconnects
        let closed = false;
        const closeCbs: (() => void)[] = [];
        sock.once('close', () => {
          closed = true;
          for (const cb of closeCbs) cb();
        });
        resolve({
          write: (data) => !closed && sock.write(data),
          onData: (cb) => void sock.on('data', cb),
          onDrain: (cb) => void sock.on('drain', cb),
          onClose: (cb) => (closed ? queueMicrotask(cb) : void closeCbs.push(cb)),
          // end(), not destroy(): keystrokes written just before still reach the guest.
          close: () => {
            sock.end();
            setTimeout(() => sock.destroy(), 1000).unref();
          },
        });
      });
    });
  }

  async tail(vm: ConsoleTarget, maxBytes: number): Promise<Buffer> {
    const { logPath } = this.d.endpoint(vm.id);
    let fh;
    try {
      fh = await open(logPath, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
      throw e;
    }
    try {
      const { size } = await fh.stat();
      // One byte more than needed: whether the window already starts a line.
      const start = Math.max(0, size - maxBytes - 1);
      const buf = Buffer.alloc(size - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      return Buffer.from(tailAtLineBoundary(buf.subarray(0, bytesRead), maxBytes));
    } finally {
      await fh.close();
    }
  }

  resize(vm: ConsoleTarget, size: TermSize): Promise<void> {
    const body = JSON.stringify({ rows: size.rows, cols: size.cols });
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: vm.ip,
          port: this.d.agentPort,
          method: 'POST',
          path: '/v1/console/resize',
          timeout: this.d.resizeTimeoutMs ?? 3000,
          headers: {
            authorization: `Bearer ${this.d.agentToken(vm.id)}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text = (text + c).slice(0, 2000)));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve();
            else reject(new Error(`guest agent answered ${status} to a console resize: ${text.trim().slice(0, 300)}`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('guest agent did not answer the console resize in time')));
      req.on('error', reject);
      req.end(body);
    });
  }
}
