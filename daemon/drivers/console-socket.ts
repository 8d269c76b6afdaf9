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
import type { Console, ConsoleLink, ConsoleTarget, TermSize } from '../core/ports/console.js';
import { tailAtLineBoundary } from '../core/console-scrollback.js';
import type { ConsoleEndpoint } from '../core/ports/hypervisor.js';
import { readBounded } from './bounded-read.js';
import { readTail } from './console-log-cap.js';

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
    // One byte more than needed: whether the window already starts a line.
    const buf = await readTail(this.d.endpoint(vm.id).logPath, maxBytes + 1);
    return Buffer.from(tailAtLineBoundary(buf, maxBytes));
  }

  resize(vm: ConsoleTarget, size: TermSize): Promise<void> {
    const body = JSON.stringify({ rows: size.rows, cols: size.cols });
    const timeoutMs = this.d.resizeTimeoutMs ?? 3000;
    return new Promise((resolve, reject) => {
      // The whole exchange, the answer's body included, within timeoutMs: the agent can be anything.
      const req = request(
        {
          host: vm.ip,
          port: this.d.agentPort,
          method: 'POST',
          path: '/v1/console/resize',
          agent: false,
          maxHeaderSize: 16 * 1024,
          signal: AbortSignal.timeout(timeoutMs),
          headers: {
            authorization: `Bearer ${this.d.agentToken(vm.id)}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          res.on('error', () => {});
          readBounded(res, { maxBytes: 64 * 1024, timeoutMs, what: 'the guest agent\'s answer to a console resize' }).then(
            (text) => {
              req.destroy();
              const status = res.statusCode ?? 0;
              if (status >= 200 && status < 300) resolve();
              else reject(new Error(`guest agent answered ${status} to a console resize: ${text.toString('utf8').trim().slice(0, 300)}`));
            },
            (err: Error) => {
              req.destroy();
              reject(err);
            },
          );
        },
      );
      req.on('error', (err) => reject(err.name === 'AbortError' ? new Error('guest agent did not answer the console resize in time') : err));
      req.end(body);
    });
  }
}
