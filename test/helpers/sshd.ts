/**
 * A real OpenSSH sshd for tests, configured the way daemon/host-setup.sh
 * configures the host's (AuthorizedKeysCommand → fcm's key helper, keys only,
 * root only), with fresh host keys; and a git client environment that trusts
 * exactly that host key and offers exactly one client key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureGitUser } from '../../daemon/drivers/git/git-user.js';
import { run } from '../../daemon/drivers/proc.js';
import { serverReady } from './ports.js';

export interface TestSshd {
  port: number;
  /** `<host> <type> <key>` for known_hosts (host is `[ip]:port` unless the port is 22). */
  knownHostsLine: string;
  log(): string;
  close(): Promise<void>;
}

export async function startSshd(o: {
  dir: string;
  listen: string;
  port: number;
  /** Absolute path of fcm-ssh-keys (root-owned, in a root-owned directory the git user can search). */
  keysCommand?: string;
  /** Who sshd runs it as (AuthorizedKeysCommandUser): the git user, as daemon/host-setup.sh configures it. */
  keysCommandUser?: string;
  /** Instead of fcm's key command: a plain authorized_keys text for root (a host without fcm). */
  authorizedKeys?: string;
  /** Argv prefix to run sshd somewhere else, e.g. ['ip', 'netns', 'exec', ns]. */
  wrap?: string[];
  /** Also probe the port this way once sshd says it listens (e.g. from inside a namespace). */
  probe?: () => Promise<boolean>;
}): Promise<TestSshd> {
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation directory
  const hostKey = join(o.dir, 'ssh_host_ed25519_key');
  rmSync(hostKey, { force: true }); // a start again on another port (address in use) makes a new one
  rmSync(`${hostKey}.pub`, { force: true });
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'fcm-test-host', '-f', hostKey]);
  const config = join(o.dir, 'sshd_config');
  if (!o.keysCommand === !o.authorizedKeys) throw new Error('startSshd: give keysCommand or authorizedKeys');
  const authorizedKeysFile = join(o.dir, 'authorized_keys');
  if (o.authorizedKeys) writeFileSync(authorizedKeysFile, o.authorizedKeys, { mode: 0o600 });
  writeFileSync(
    config,
    [
      `ListenAddress ${o.listen}`,
      `Port ${o.port}`,
      `HostKey ${hostKey}`,
      'PidFile none',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'StrictModes yes',
      'LogLevel VERBOSE',
      ...(o.keysCommand
        ? [
            // Isolation: this machine's own authorized_keys files play no part in the test.
            'AuthorizedKeysFile none',
            // What daemon/host-setup.sh writes into /etc/ssh/sshd_config.d/fcm.conf:
            'Match User root',
            `  AuthorizedKeysCommand ${o.keysCommand} %u %f`,
            `  AuthorizedKeysCommandUser ${o.keysCommandUser ?? 'fcm-git'}`,
          ]
        : [`AuthorizedKeysFile ${authorizedKeysFile}`]),
      '',
    ].join('\n'),
  );
  const sshd = '/usr/sbin/sshd';
  await run(sshd, ['-t', '-f', config]);
  const logPath = join(o.dir, 'sshd.log');
  const argv = [...(o.wrap ?? []), sshd, '-D', '-e', '-f', config];
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    log += c;
    writeFileSync(logPath, log);
  });
  // sshd's own word that it listens, or its exit with the reason (AddressInUse when the port was
  // taken: the caller picks another, test/helpers/ports.ts). A connect alone could reach whatever
  // else holds the port.
  await serverReady(child, 'sshd', () => log, new RegExp(`Server listening on ${o.listen.replace(/\./g, '\\.')} port ${o.port}\\.`), 10_000);
  if (o.probe) {
    const deadline = Date.now() + 10_000;
    while (!(await o.probe())) {
      if (child.exitCode !== null) throw new Error(`sshd exited: ${log}`);
      if (Date.now() > deadline) throw new Error(`sshd did not answer the probe: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const pub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  return {
    port: o.port,
    knownHostsLine: `${o.port === 22 ? o.listen : `[${o.listen}]:${o.port}`} ${pub}`,
    log: () => log,
    close: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface GitClient {
  /** Environment for git/ssh: this key only, this host only, no prompts, no user config. */
  env: Record<string, string>;
  keyPath: string;
  publicKey: string;
  /** The known_hosts file it trusts (append a line to trust another host). */
  knownHostsFile: string;
  /** The ssh argv prefix (for `ssh host` tests). */
  ssh: string[];
}

export async function gitClient(dir: string, name: string, knownHostsLine: string): Promise<GitClient> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyPath = join(dir, `id_${name}`);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', keyPath]);
  const kh = join(dir, `known_hosts_${name}`);
  writeFileSync(kh, `${knownHostsLine}\n`);
  const ssh = ['ssh', '-F', '/dev/null', '-i', keyPath, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${kh}`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'];
  const home = join(dir, `home-${name}`);
  mkdirSync(home, { recursive: true });
  return {
    keyPath,
    knownHostsFile: kh,
    publicKey: readFileSync(`${keyPath}.pub`, 'utf8').trim(),
    ssh,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      GIT_SSH_COMMAND: ssh.join(' '),
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: name,
      GIT_AUTHOR_EMAIL: `${name}@example.com`,
      GIT_COMMITTER_NAME: name,
      GIT_COMMITTER_EMAIL: `${name}@example.com`,
      LANG: 'C.UTF-8',
    },
  };
}

/**
 * A fresh directory under /run for a test's daemon state and sshd: sshd runs
 * the AuthorizedKeysCommand only from a root-owned path whose directories
 * nobody else can write (not /tmp), and the git user (its group) must pass
 * through it to the state dir, which the daemon sees to itself.
 */
export async function gitTestBase(prefix: string): Promise<string> {
  const base = mkdtempSync(`/run/${prefix}`);
  const gitUser = await ensureGitUser('fcm-git');
  chownSync(base, 0, gitUser.gid);
  chmodSync(base, 0o710);
  return base;
}

