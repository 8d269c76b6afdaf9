/**
 * fcm's forced command: the only thing an fcm key may run over SSH. sshd
 * starts it from the key's authorized_keys line — behind setpriv, so it
 * already runs as the git user, never root — as `fcm-git-serve.cjs <key id>`
 * with the client's command in SSH_ORIGINAL_COMMAND. It accepts only
 * `git-receive-pack` / `git-upload-pack` of `'<app>.git'`, asks the daemon
 * whether the key's owner may access that app, and runs git on the app's
 * repository (receive-pack gets the push ticket for the pre-receive hook).
 */
import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import {
  appFromRepoPath,
  INTERNAL_ROUTES,
  KEY_ID,
  PUSH_TICKET_ENV,
  TUNNEL_HEADERS,
  TUNNEL_PROTOCOL,
  type AuthorizeAnswer,
  type AuthorizeRequest,
  type GitService,
} from '../../../core/git-wire.js';
import { request } from 'node:http';
import { call, jsonOf, mediaType, readAll, refusalOf, type HelperConfig } from './socket-client.js';

export type SshCommand = { ok: true; service: GitService; app: string } | { ok: false; message: string };

const NO_SHELL = [
  'this key can only git push and fetch fcm apps; there is no shell here.',
  '  git remote add fcm root@<server>:<app>.git',
  '  git push fcm main',
].join('\n');

/** What git clients send: `git-receive-pack '<path>'` (or `git receive-pack`); the path is `<app>.git` or `/<app>.git`. */
const GIT_COMMAND = /^git[- ](receive-pack|upload-pack) '([^'\\]*)'$/;

/** The client's command, strictly: one git service on one app, nothing else. */
export function parseSshCommand(cmd: string): SshCommand {
  if (!cmd) return { ok: false, message: NO_SHELL };
  const m = GIT_COMMAND.exec(cmd);
  const app = m ? appFromRepoPath(m[2]!) : null;
  if (!m || !app) return { ok: false, message: `only git push and git fetch of an app (<app>.git) are allowed here, not: ${JSON.stringify(cmd.slice(0, 100))}` };
  return { ok: true, service: m[1] as GitService, app };
}

/** The environment git runs with: nothing of the SSH session's but what git needs, and the push ticket. */
export function gitEnv(ticket: string | null, home = homeDir()): Record<string, string> {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    // The git user's own home (sshd left root's, which git could not read and would warn about).
    HOME: home,
    LANG: 'C.UTF-8',
    ...(ticket ? { [PUSH_TICKET_ENV]: ticket } : {}),
  };
}

function homeDir(): string {
  try {
    return userInfo().homedir || '/nonexistent';
  } catch {
    return '/nonexistent';
  }
}

function fail(message: string): never {
  process.stderr.write(`${message.split('\n').map((l) => `fcm: ${l}`).join('\n')}\n`);
  process.exit(1);
}

export async function main(cfg: HelperConfig, argv = process.argv.slice(2), env = process.env): Promise<void> {
  const keyId = argv[0] ?? '';
  if (!KEY_ID.test(keyId)) fail('this key entry is misconfigured');
  const cmd = parseSshCommand(env.SSH_ORIGINAL_COMMAND ?? '');
  if (!cmd.ok) fail(cmd.message);
  const ask: AuthorizeRequest = { keyId, vm: cmd.app, service: cmd.service };
  let answer;
  try {
    answer = await call(cfg.socketPath, { method: 'POST', path: INTERNAL_ROUTES.authorize, body: JSON.stringify(ask), timeoutMs: 15_000 });
  } catch (e) {
    fail(`the fcm daemon is not answering (${(e as Error).message}); try again in a moment`);
  }
  const grant = answer.status === 200 ? (jsonOf(answer) as (Partial<AuthorizeAnswer> & { relay?: unknown }) | null) : null;
  // The app runs on another host of the cluster: git runs there, through the daemon's tunnel.
  if (grant?.relay === true) return tunnel(cfg.socketPath, { keyId, vm: cmd.app, service: cmd.service });
  if (!grant || typeof grant.repo !== 'string') fail(refusalOf(answer, 'the fcm daemon refused').detail);
  const git = spawn('git', [cmd.service, grant.repo], { stdio: 'inherit', env: gitEnv(typeof grant.ticket === 'string' ? grant.ticket : null) });
  git.on('error', (e) => fail(`cannot run git: ${e.message}`));
  git.on('exit', (code) => process.exit(code ?? 1));
}

/**
 * git's protocol spliced through the daemon to the host that runs the app
 * (INTERNAL_ROUTES.tunnel): this session's stdin goes up as it comes (its EOF
 * too), what git there writes comes down to stdout. Exits when the tunnel
 * ends; a refusal (the app is not the key owner's, the host is down) is
 * shown like any other.
 */
function tunnel(socketPath: string, t: { keyId: string; vm: string; service: GitService }): Promise<void> {
  return new Promise((_resolve) => {
    const req = request({
      socketPath,
      method: 'GET',
      path: INTERNAL_ROUTES.tunnel,
      headers: { connection: 'Upgrade', upgrade: TUNNEL_PROTOCOL, [TUNNEL_HEADERS.keyId]: t.keyId, [TUNNEL_HEADERS.vm]: t.vm, [TUNNEL_HEADERS.service]: t.service },
    });
    req.on('error', (e) => fail(`the fcm daemon is not answering (${e.message}); try again in a moment`));
    req.on('response', (res) => {
      readAll(res).then(
        (text) => fail(refusalOf({ status: res.statusCode ?? 0, type: mediaType(res), text }, 'the fcm daemon refused').detail),
        (e: Error) => fail(`the fcm daemon refused (${e.message})`),
      );
    });
    req.on('upgrade', (_res, socket, head) => {
      if (head.length) process.stdout.write(head);
      socket.on('error', () => process.exit(1));
      socket.pipe(process.stdout);
      process.stdin.pipe(socket);
      // Done when the other side is: git there has exited and said all it had to.
      socket.on('close', () => process.exit(0));
    });
    req.end();
  });
}
