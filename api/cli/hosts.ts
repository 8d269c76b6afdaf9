/**
 * The servers this user is logged in to, and git over HTTPS with them:
 *   fcm hosts               list them (the default marked)
 *   fcm hosts use <host>    make one the default
 *   fcm git-remote [name]   point this repository's `fcm` remote at the VM's
 *                           HTTPS git URL, with git asking fcm for the token
 *                           (credential helper) and trusting the host's CA,
 *                           both set for that URL only, in this repository
 *   fcm git-credential get  the credential helper git runs (hidden)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Vm } from '../client.js';
import { isLoopbackName, loadCredentials } from '../credentials.js';
import { APP_FLAG, appName } from './app.js';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import { saveStore } from './credential-store.js';
import { table } from './format.js';
import { terminalColumns } from './io.js';
import { UsageError, type Parsed } from './parse.js';
import { CliError, EXIT } from './render-error.js';
import { displayPath, normalizeHost } from './resolve.js';

const run = promisify(execFile);

export function hostCommands(): Command[] {
  return [
    {
      name: 'hosts',
      group: 'auth',
      summary: 'List the fcm servers you are logged in to (* = the default)',
      description:
        'Every server fcm login stored a token for. Commands go to the default one unless\n' +
        '--host, FCM_HOST or a ./.fcm file names another; a token is only ever sent to its own server.\n' +
        "The servers of one fcm cluster (daemons sharing a database) are listed by fcm cluster hosts.",
      args: [],
      flags: [],
      examples: ['fcm hosts', 'fcm hosts --json', 'fcm hosts use https://fcm.example.com'],
      run: listHosts,
    },
    {
      name: 'hosts use',
      group: 'auth',
      summary: 'Make a server you are logged in to the default',
      args: [{ name: 'host', description: 'A host from fcm hosts (URL or host name)', optional: false }],
      flags: [],
      examples: ['fcm hosts use https://fcm.64-34-93-45.sslip.io', 'fcm hosts use fcm.example.com'],
      run: useHost,
    },
    {
      name: 'git-remote',
      group: 'deploys',
      summary: "Point this repository's fcm remote at the VM (HTTPS, token from fcm login)",
      description:
        "Adds (or updates) the git remote `fcm` to the VM's HTTPS git URL, and sets two things for that\n" +
        'URL only, in this repository: git asks fcm for the token (credential helper), and trusts the\n' +
        "server's CA when fcm login was given one. Then: git push fcm main. --ssh uses the SSH remote instead\n" +
        '(needs fcm keys add).',
      args: [{ name: 'name', description: "The VM's name (default: the VM in ./.fcm)", optional: true, vmRef: true }],
      flags: [
        APP_FLAG,
        { long: 'remote', type: 'string', valueName: 'name', default: 'fcm', description: 'The git remote to set' },
        { long: 'ssh', type: 'boolean', description: 'Use the SSH git URL (root@server:<vm>.git) instead of HTTPS' },
      ],
      examples: ['fcm git-remote', 'fcm git-remote cosmic-nova', 'fcm git-remote --ssh'],
      run: gitRemote,
    },
    {
      name: 'git-credential',
      group: 'deploys',
      summary: 'git credential helper (git runs it; see fcm git-remote)',
      args: [{ name: 'operation', description: 'get, store or erase', optional: false }],
      flags: [{ long: 'origin', type: 'string', valueName: 'url', description: 'The only URL (scheme://host[:port]) to answer for' }],
      examples: [],
      hidden: true,
      run: gitCredential,
    },
  ];
}

async function listHosts(ctx: Ctx): Promise<number> {
  const { store, path } = ctx.credentials();
  const rows = Object.entries(store.hosts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([host, c]) => ({ default: store.default === host, host, user: c.user ?? null, caFile: c.caFile ?? null, savedAt: c.savedAt ?? null }));
  if (ctx.json) {
    ctx.print(`${JSON.stringify({ credentials: path, default: store.default ?? null, hosts: rows }, null, 2)}\n`);
    return EXIT.ok;
  }
  if (!rows.length) {
    ctx.io.stderr.write(`Not logged in to any server. Log in with: fcm login --host <url>\n`);
    return EXIT.ok;
  }
  ctx.print(
    table(
      rows.map((r) => ({ mark: r.default ? '*' : ' ', host: r.host, user: r.user ?? '-', ca: r.caFile ?? '-' })),
      [
        { title: ' ', field: 'mark', format: 'text' },
        { title: 'HOST', field: 'host', format: 'text' },
        { title: 'USER', field: 'user', format: 'text' },
        { title: 'CA FILE', field: 'ca', format: 'text' },
      ],
      ctx.out,
      ctx.now(),
      terminalColumns(ctx.io.stdout, ctx.io.env),
    ),
  );
  return EXIT.ok;
}

async function useHost(ctx: Ctx, parsed: Parsed): Promise<number> {
  const given = parsed.positionals[0];
  if (!given) throw new UsageError('which host? fcm hosts lists them');
  const loaded = ctx.credentials();
  const host = normalizeHost(given, '<host>');
  // `fcm hosts use fcm.example.com` also finds http://fcm.example.com:7777 when it is the only one with that name.
  const byName = Object.keys(loaded.store.hosts).filter((h) => new URL(h).hostname === new URL(host).hostname);
  const pick = loaded.store.hosts[host] ? host : byName.length === 1 ? byName[0]! : null;
  if (!pick) {
    throw new CliError(`Not logged in to ${host}`, { hint: `fcm login --host ${host} (fcm hosts lists where you are logged in)` });
  }
  saveStore(loaded.path, { ...loaded.store, default: pick });
  ctx.print(`${pick} is now the default host.\n`);
  return EXIT.ok;
}

/** `'…'` for sh: git runs `!helper` through the shell. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function git(ctx: Ctx, args: string[]): Promise<string> {
  try {
    return (await run('git', args, { cwd: ctx.io.cwd, env: { ...process.env, ...ctx.io.env } as NodeJS.ProcessEnv })).stdout.trim();
  } catch (e) {
    const err = e as { code?: string | number; stderr?: string };
    if (err.code === 'ENOENT') throw new CliError('git is not installed (or not on PATH)');
    throw new CliError(`git ${args[0]} failed`, { detail: (err.stderr ?? String(e)).trim() });
  }
}

async function gitRemote(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'git-remote';
  const name = appName(ctx, parsed, parsed.positionals[0], 'fcm git-remote <name> or -a <app>');
  const remote = typeof parsed.flags.remote === 'string' ? parsed.flags.remote : 'fcm';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(remote)) throw new UsageError(`"${remote}" is not a git remote name`);
  const top = await git(ctx, ['rev-parse', '--show-toplevel']).catch(() => null);
  if (!top) throw new CliError('This is not a git repository', { hint: 'run it inside the repository to deploy (git init first for a new one)' });

  const vm = (await ctx.client().vms.get(name, ctx.io.signal ? { signal: ctx.io.signal } : {})) as Vm;
  const ssh = parsed.flags.ssh === true;
  const url = ssh ? vm.gitUrl : vm.gitHttpUrl;
  const existing = await git(ctx, ['remote', 'get-url', remote]).catch(() => null);
  if (existing === null) await git(ctx, ['remote', 'add', remote, url]);
  else if (existing !== url) await git(ctx, ['remote', 'set-url', remote, url]);

  const notes: string[] = [];
  if (!ssh) {
    const u = new URL(url);
    const origin = u.origin;
    const host = ctx.host().url;
    const stored = ctx.credentials().store.hosts[host];
    if (u.protocol === 'http:' && !isLoopbackName(u.hostname)) ctx.warn(`${url} is plain HTTP: your token would cross the network unencrypted (the server's FCM_PUBLIC_URL should be https://)`);
    if (stored) {
      // Only for this URL: git never offers the token anywhere else. The helper also checks the origin itself.
      const helper = `!${shq(process.execPath)} ${shq(process.argv[1] ?? 'fcm')} git-credential --host ${shq(host)} --origin ${shq(origin)}`;
      await git(ctx, ['config', '--local', '--replace-all', `credential.${origin}.helper`, '']);
      await git(ctx, ['config', '--local', '--add', `credential.${origin}.helper`, helper]);
      await git(ctx, ['config', '--local', `credential.${origin}.username`, 'fcm']);
    } else {
      notes.push(`No stored login for ${host}: git will ask for a password (an fcm token). fcm login --host ${host} makes git ask fcm instead.`);
    }
    const ca = ctx.ca();
    if (ca) await git(ctx, ['config', '--local', `http.${origin}/.sslCAInfo`, ca.path]);
  }
  if (ctx.json) {
    ctx.print(`${JSON.stringify({ remote, url, vm: vm.name }, null, 2)}\n`);
  } else {
    ctx.print(`${existing === null ? 'Added' : existing === url ? 'Kept' : 'Updated'} git remote ${remote}: ${url}\n`);
    for (const n of notes) ctx.note(n);
    ctx.note(`Deploy with: git push ${remote} main`);
  }
  return EXIT.ok;
}

/**
 * git's credential helper protocol (gitcredentials(7)): `get` reads
 * key=value lines and answers username/password for the stored host, but
 * only for the one origin it was set up for and only over HTTPS (or plain
 * HTTP on loopback). `store` and `erase` are git telling us what worked or
 * failed: the credential store is fcm login's, so they change nothing.
 */
async function gitCredential(ctx: Ctx, parsed: Parsed): Promise<number> {
  const op = parsed.positionals[0];
  if (op !== 'get') return EXIT.ok;
  const text = await new Promise<string>((resolve) => {
    let buf = '';
    ctx.io.stdin.setEncoding?.('utf8');
    ctx.io.stdin.on('data', (d: string | Buffer) => {
      buf += d.toString();
      if (/\n\n$|^\n$/.test(buf)) resolve(buf);
    });
    ctx.io.stdin.once('end', () => resolve(buf));
    ctx.io.stdin.resume?.();
  });
  const req = Object.fromEntries(
    text
      .split('\n')
      .map((l) => /^([a-z_]+)=(.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!]),
  );
  const protocol = req.protocol;
  const hostPort = req.host;
  if ((protocol !== 'https' && protocol !== 'http') || !hostPort) return EXIT.ok;
  const origin = new URL(`${protocol}://${hostPort}`).origin;
  if (protocol === 'http' && !isLoopbackName(new URL(origin).hostname)) return EXIT.ok;
  const want = typeof parsed.flags.origin === 'string' ? new URL(parsed.flags.origin).origin : origin;
  if (want !== origin) return EXIT.ok;
  const key = typeof parsed.flags.host === 'string' ? normalizeHost(parsed.flags.host, '--host') : origin;
  const creds = loadCredentials(ctx.io.env, ctx.io.home).store.hosts[key];
  if (!creds) return EXIT.ok;
  ctx.print(`username=fcm\npassword=${creds.token}\n`);
  return EXIT.ok;
}
