/**
 * Runs commands *inside* a guest through its serial console: QEMU's socket
 * chardev (<state dir>/run/<vmId>/console.sock) carries a root bash. Each
 * command is framed by markers the shell prints (`printf '%s_%s' BEGIN id`
 * prints BEGIN_id, while its echo shows `BEGIN id`), so the typed line's
 * echo and prompts never mix with the output. QEMU serves one client at a
 * time: do not hold this while a console session is open through the API.
 */
import { createConnection, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export interface GuestResult {
  out: string;
  code: number;
}

export class GuestShell {
  private buf = '';
  private waiters: (() => void)[] = [];
  private closed = false;

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      if (this.buf.length > 4_000_000) this.buf = this.buf.slice(-2_000_000);
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    sock.on('error', () => {});
  }

  static async open(stateDir: string, vmId: string, timeoutMs = 60_000): Promise<GuestShell> {
    const path = join(stateDir, 'run', vmId, 'console.sock');
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection({ path });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    const sh = new GuestShell(sock);
    // The shell may still be starting (respawned after boot): poke it until a command answers.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        sh.sock.write('\r');
        await sh.run('true', 5000);
        return sh;
      } catch (e) {
        if (Date.now() > deadline || sh.closed) {
          sh.close();
          throw new Error(`guest console of ${vmId} did not answer: ${(e as Error).message}; last output: ${JSON.stringify(sh.buf.slice(-500))}`);
        }
      }
    }
  }

  /** Runs `cmd` in a subshell; resolves with its output (\r stripped) and exit code. */
  async run(cmd: string, timeoutMs = 30_000): Promise<GuestResult> {
    if (this.closed) throw new Error('guest console closed');
    const id = randomBytes(4).toString('hex');
    const begin = `BEGIN_${id}\r\n`;
    const endRe = new RegExp(`END_${id}_(\\d+)\\r?\\n`);
    const start = this.buf.length;
    this.sock.write(`printf '%s_%s\\n' BEGIN ${id}; ( ${cmd} ); printf '%s_%s_%s\\n' END ${id} $?\r`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = this.buf.slice(start);
      const b = seen.indexOf(begin);
      if (b >= 0) {
        const rest = seen.slice(b + begin.length);
        const m = endRe.exec(rest);
        if (m) return { out: rest.slice(0, m.index).replace(/\r/g, ''), code: Number(m[1]) };
      }
      if (this.closed) throw new Error('guest console closed');
      const left = deadline - Date.now();
      if (left <= 0) {
        // Interrupt whatever hangs so the next command gets a prompt.
        this.sock.write('\x03\r');
        throw new Error(`timed out after ${timeoutMs} ms: ${cmd}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 1000));
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  /** Like run, but fails unless the command exits 0. */
  async ok(cmd: string, timeoutMs?: number): Promise<string> {
    const r = await this.run(cmd, timeoutMs);
    if (r.code !== 0) throw new Error(`guest command failed (${r.code}): ${cmd}\n${r.out}`);
    return r.out;
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}
