/**
 * Git pushes to a VM on another host, shared by the cluster host tests
 * (test/host/cluster-forward.test.ts, test/host/cluster.test.ts):
 *
 * - sh(): a process with its exit code, stdout and stderr (never throws);
 * - PY_APP(): a standard-library Python web app that answers `python <version>`;
 * - remoteLines(): the `remote: ` lines of a push (the deploy's output);
 * - sshdOn(): a real sshd in a host's namespace, on its daemon address port 22,
 *   with that host's own fcm-ssh-keys as AuthorizedKeysCommand (copied under
 *   /run: sshd wants a root-owned path the git user can search, and a host's
 *   state directory under /tmp is not one).
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { HostHarness } from './host-harness.js';
import { startSshd, type TestSshd } from './sshd.js';

export interface Res {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 600_000): Promise<Res> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export const PY_APP = (version: string) => `import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class App(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"python ${version}\\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("request", self.command, self.path, flush=True)


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), App).serve_forever()
`;

/** The deploy's output: the `remote: ` lines of a push, without the prefix. */
export const remoteLines = (r: Res) => r.stderr.split('\n').filter((l) => l.startsWith('remote: ')).map((l) => l.slice(8).trimEnd());

/** A git author/committer environment with nothing of this machine's (HOME is `home`). */
export function gitEnv(home: string): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LANG: 'C.UTF-8', GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@example.com', GIT_COMMITTER_NAME: 'a', GIT_COMMITTER_EMAIL: 'a@example.com' };
}

export interface HostSshd {
  sshd: TestSshd;
  /** Stops sshd and removes its directory under /run. */
  close(): Promise<void>;
}

/** `h`'s SSH remote: sshd in h's namespace at root@<h.daemonIp>, keys looked up by h's fcm-ssh-keys. */
export async function sshdOn(h: HostHarness): Promise<HostSshd> {
  const keysDir = mkdtempSync('/run/fcm-keys-');
  try {
    chmodSync(keysDir, 0o755);
    const keysCommand = join(keysDir, 'fcm-ssh-keys');
    copyFileSync(join(h.stateDir, 'git', 'bin', 'fcm-ssh-keys'), keysCommand);
    const sshd = await startSshd({
      dir: join(keysDir, 'sshd'),
      listen: h.daemonIp,
      port: 22,
      keysCommand,
      wrap: ['ip', 'netns', 'exec', h.ns],
      probe: () =>
        new Promise((r) => {
          const s = connect(22, h.daemonIp, () => (s.destroy(), r(true)));
          s.on('error', () => r(false));
        }),
    });
    return {
      sshd,
      close: async () => {
        await sshd.close();
        rmSync(keysDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(keysDir, { recursive: true, force: true });
    throw e;
  }
}
