import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { BIN } from '../e2e/cli-run.js';

/**
 * Runs `argv` in VM `vm` with `fcm run` against a host harness (its `env`: FCM_HOST, FCM_TOKEN),
 * `input` on its stdin, handing each line it prints to `onLine` as it arrives (a bench's guest
 * script reports one JSON line per measurement); resolves with fcm's exit code.
 */
export function runInGuest(env: Record<string, string>, vm: string, argv: string[], onLine: (line: string) => void, input?: Buffer): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'run', '-a', vm, '--', ...argv], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onLine(line);
      }
    });
    child.on('error', reject);
    child.on('close', resolve);
    child.stdin.end(input);
  });
}
