/**
 * `fcm env` (ls), `fcm env set KEY=VALUE…`, `fcm env unset KEY…` and a
 * streaming `fcm logs [-f]`: the deploy commands that are more than the
 * generic one-call executor (several arguments folded into one request
 * body, output shaped for shells, a response streamed as it arrives).
 * Everything else about deploys (releases, rollback, keys but `keys add`,
 * see keys.ts) is generated from x-cli.
 */
import type { Schemas } from '../client.js';
import { errorFromResponse } from '../errors.js';
import { EnvKey, matches } from '../patterns.gen.js';
import { APP_FLAG, appName } from './app.js';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import { UsageError, type Parsed } from './parse.js';
import { progress, seconds } from './progress.js';
import { EXIT } from './render-error.js';

type EnvVars = Schemas['EnvVars'];

const NAME_ARG = { name: 'name', description: "The VM's name (default: the VM in ./.fcm)", optional: true, vmRef: true };

export function deployCommands(): Command[] {
  return [
    {
      name: 'env',
      group: 'deploys',
      summary: 'Show config vars (KEY=VALUE, ready for a shell)',
      description: 'Prints the app\'s config vars, one KEY=VALUE per line (values quoted for a POSIX shell when needed).\nThey are secrets: fcm never logs them; only the VM\'s owner (and admins) can read them.',
      args: [NAME_ARG],
      flags: [APP_FLAG],
      examples: ['fcm env', 'fcm env cosmic-nova', 'fcm env --json'],
      run: envList,
    },
    {
      name: 'env set',
      group: 'deploys',
      summary: 'Set config vars; the app restarts to see them',
      description: 'Sets one or more KEY=VALUE pairs in one release. The app\'s processes restart (without downtime for\nweb); if the app does not come up with the new values, the old ones are kept and fcm says why.',
      args: [{ name: 'KEY=VALUE', description: 'A config var (repeatable)', optional: false, variadic: true }],
      flags: [APP_FLAG],
      examples: ['fcm env set GREETING=hello', 'fcm env set DATABASE_URL=postgres://… MODE=production', 'fcm env set -a cosmic-nova DEBUG=1'],
      run: envSet,
    },
    {
      name: 'env unset',
      group: 'deploys',
      summary: 'Remove config vars; the app restarts without them',
      args: [{ name: 'KEY', description: 'A config var name (repeatable)', optional: false, variadic: true }],
      flags: [APP_FLAG],
      examples: ['fcm env unset DEBUG', 'fcm env unset -a cosmic-nova A B'],
      run: envUnset,
    },
    {
      name: 'logs',
      group: 'deploys',
      summary: "Show the app's logs (-f to follow)",
      description: "The output of the app's processes, each line prefixed `<time> <process>[<n>]: `.\nWith -f the output streams until Ctrl-C.",
      args: [NAME_ARG],
      flags: [
        APP_FLAG,
        { long: 'follow', short: 'f', type: 'boolean', negatable: true, description: 'Keep streaming new lines' },
        { long: 'lines', short: 'n', type: 'integer', minimum: 0, maximum: 10000, default: 100, valueName: 'n', description: 'How many recent lines to show first' },
      ],
      examples: ['fcm logs', 'fcm logs -f', 'fcm logs -fn 500', 'fcm logs -a cosmic-nova --lines 500'],
      run: logs,
    },
  ];
}

async function envList(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'env';
  const name = appName(ctx, parsed, parsed.positionals[0], 'fcm env <name> or -a <app>');
  const env = (await ctx.client().call('get', '/v1/vms/{name}/env', { path: { name } }, signal(ctx))) as EnvVars;
  if (ctx.json) {
    ctx.print(`${JSON.stringify(env.vars, null, 2)}\n`);
    return EXIT.ok;
  }
  const keys = Object.keys(env.vars).sort();
  if (!keys.length) ctx.io.stderr.write(`No config vars on ${name}. Set one with: fcm env set KEY=VALUE\n`);
  for (const k of keys) ctx.print(`${k}=${shellQuote(env.vars[k]!)}\n`);
  return EXIT.ok;
}

async function envSet(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'env set';
  if (!parsed.positionals.length) throw new UsageError('give at least one KEY=VALUE');
  const set: Record<string, string> = {};
  for (const p of parsed.positionals) {
    const i = p.indexOf('=');
    const key = i === -1 ? p : p.slice(0, i);
    if (i === -1) throw new UsageError(`"${p}" is not KEY=VALUE (to remove a var: fcm env unset ${key})`);
    if (!matches(EnvKey, key)) throw new UsageError(`"${key}" is not a config var name (letters, digits and _, not starting with a digit)`);
    set[key] = p.slice(i + 1);
  }
  return update(ctx, parsed, { set }, `Set ${Object.keys(set).join(', ')}`);
}

async function envUnset(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'env unset';
  if (!parsed.positionals.length) throw new UsageError('give at least one KEY');
  for (const k of parsed.positionals) {
    if (!matches(EnvKey, k)) throw new UsageError(`"${k}" is not a config var name${k.includes('=') ? ' (unset takes names only)' : ''}`);
  }
  return update(ctx, parsed, { unset: parsed.positionals }, `Unset ${parsed.positionals.join(', ')}`);
}

async function update(ctx: Ctx, parsed: Parsed, body: { set?: Record<string, string>; unset?: string[] }, what: string): Promise<number> {
  const name = appName(ctx, parsed, undefined, '-a <app>');
  const p = progress(ctx.io.stderr, { quiet: ctx.json, color: ctx.errColor, now: () => ctx.now() });
  const t0 = ctx.now();
  p.start(`${what} and restarting ${name}`);
  let res: EnvVars;
  try {
    res = (await ctx.client().call('patch', '/v1/vms/{name}/env', { path: { name }, body }, signal(ctx))) as EnvVars;
  } finally {
    p.stop();
  }
  if (ctx.json) ctx.print(`${JSON.stringify(res, null, 2)}\n`);
  else if (res.release === null || res.release === undefined) ctx.print(`No change: ${name}'s config vars were already so.\n`);
  else ctx.print(`${what} on ${name} (v${res.release}, ${seconds(ctx.now() - t0)}).\n`);
  return EXIT.ok;
}

/** Streams the body as it arrives: with -f, until Ctrl-C (or the daemon ends it). */
async function logs(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'logs';
  const name = appName(ctx, parsed, parsed.positionals[0], 'fcm logs <name> or -a <app>');
  const follow = parsed.flags.follow === true;
  const lines = typeof parsed.flags.lines === 'number' ? parsed.flags.lines : 100;
  const { data, error, response } = await ctx.client().raw.GET('/v1/vms/{name}/logs', {
    params: { path: { name }, query: { follow, lines } },
    parseAs: 'stream',
    ...signal(ctx),
  });
  if (error !== undefined || !response.ok || !data) throw errorFromResponse(response, error);
  const reader = (data as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    ctx.print(decoder.decode(value, { stream: true }));
  }
  ctx.print(decoder.decode());
  return EXIT.ok;
}

function signal(ctx: Ctx): { signal?: AbortSignal } {
  return ctx.io.signal ? { signal: ctx.io.signal } : {};
}

/** KEY=VALUE lines a POSIX shell reads back unchanged: plain values bare, others single-quoted. */
export function shellQuote(v: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]*$/.test(v) && v !== '') return v;
  return `'${v.replace(/'/g, `'\\''`)}'`;
}
