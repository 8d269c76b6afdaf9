/**
 * The dispatcher: global flags, command lookup (with "did you mean"),
 * per-command flag parsing from the registry, help, version, and one place
 * that turns any failure into a message on stderr and an exit code
 * (0 ok, 1 failure, 2 usage, 130 interrupted).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandSpec } from '../gen/cli-table.js';
import { commandTable } from './commands.gen.js';
import type { Command } from './command.js';
import { buildCommands } from './commands.js';
import { Ctx, type Globals } from './context.js';
import { commandHelp, GLOBAL_FLAG_DEFS, topHelp } from './help.js';
import { colorEnabled, style, type Io } from './io.js';
import { parseArgs, suggest, UsageError, type FlagValue, type Parsed } from './parse.js';
import { errorJson, EXIT, exitCodeFor, renderError, type ErrorContext } from './render-error.js';

export interface RunOptions {
  /** The command table; tests pass one built from a fixture spec. */
  table?: CommandSpec[];
  version?: string;
}

/** The standalone package (packaging/build-packages.ts) has the version compiled in. */
declare const __FCM_VERSION__: string | undefined;

/** The version compiled into the standalone package, else the one in the package.json above this file (source: ../../, built: ../../../). */
export function cliVersion(from: string = import.meta.url): string {
  if (typeof __FCM_VERSION__ === 'string') return __FCM_VERSION__;
  for (let dir = dirname(fileURLToPath(from)), i = 0; i < 5; dir = dirname(dir), i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'fcm' && pkg.version) return pkg.version;
    } catch {
      /* keep looking */
    }
  }
  return '0.0.0';
}

function globalsFrom(flags: Record<string, FlagValue>, base: Globals = { json: false }): Globals {
  const g: Globals = { ...base };
  if (typeof flags.host === 'string') g.host = flags.host;
  if (typeof flags['ca-file'] === 'string') g.caFile = flags['ca-file'];
  if (flags.json !== undefined) g.json = flags.json === true;
  if (typeof flags.color === 'boolean') g.color = flags.color;
  return g;
}

/** --json given anywhere before `--` (also when parsing failed before it was read). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--json' || a === '--json=true');
}

/** The command word of argv (after leading global flags), or null. */
export function commandName(argv: string[]): string | null {
  try {
    return parseArgs(argv, GLOBAL_FLAG_DEFS, { stopAtPositional: true }).positionals[0] ?? null;
  } catch {
    return null;
  }
}

export async function runCli(argv: string[], io: Io, opts: RunOptions = {}): Promise<number> {
  const commands = buildCommands(opts.table ?? commandTable);
  const version = opts.version ?? cliVersion();
  let ctx: Ctx | undefined;
  let errCtx: ErrorContext = { command: null };
  try {
    const pre = parseArgs(argv, GLOBAL_FLAG_DEFS, { stopAtPositional: true });
    let globals = globalsFrom(pre.flags);
    ctx = new Ctx(io, globals, version);
    if (pre.flags.version) return printVersion(ctx, version);
    if (!pre.positionals.length) {
      ctx.print(topHelp(commands, version, ctx.out));
      return EXIT.ok;
    }
    const { cmd, rest } = find(commands, pre.positionals);
    errCtx = { command: cmd.name };
    ctx.errCtx.command = cmd.name;
    if (cmd.name === 'help') return help(ctx, commands, version, rest);
    if (pre.flags.help || (cmd.passthrough && (rest[0] === '--help' || rest[0] === '-h'))) return help(ctx, commands, version, cmd.name.split(' '));

    let parsed: Parsed;
    if (cmd.passthrough) {
      parsed = { positionals: rest, flags: {} };
    } else {
      const own = new Set(cmd.flags.map((f) => f.long));
      parsed = parseArgs(rest, [...cmd.flags, ...GLOBAL_FLAG_DEFS.filter((g) => !own.has(g.long))], {
        maxPositionals: cmd.args.some((a) => a.variadic) ? null : cmd.args.length,
        ...(cmd.flagsFirst ? { stopAtPositional: true } : {}),
      });
      if (parsed.flags.help) return help(ctx, commands, version, cmd.name.split(' '));
      globals = globalsFrom(parsed.flags, globals);
      ctx = new Ctx(io, globals, version);
      ctx.errCtx.command = cmd.name;
      if (parsed.flags.version) return printVersion(ctx, version);
      for (const [given, instead] of parsed.deprecated ?? []) ctx.warn(`${given} is deprecated: use ${instead}${instead === '--app' ? ' (or -a)' : ''}`);
    }
    return await cmd.run(ctx, parsed);
  } catch (e) {
    const ec = ctx?.errCtx.command ? ctx.errCtx : errCtx;
    if (ctx?.json || wantsJson(argv)) io.stderr.write(`${JSON.stringify(errorJson(e, ec))}\n`);
    else io.stderr.write(renderError(e, ec, ctx?.err ?? style(colorEnabled(io.stderr, io.env))));
    if (!(e instanceof UsageError) && io.env.FCM_DEBUG && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
    return exitCodeFor(e);
  }
}

/**
 * The command named by the first word or two (`keys add` before `keys`).
 * A word after a command that takes no arguments but has subcommands is a
 * mistyped subcommand, not an argument.
 */
export function find(commands: Command[], words: string[]): { cmd: Command; rest: string[] } {
  const [w0 = '', w1] = words;
  const two = w1 !== undefined ? commands.find((c) => c.name === `${w0} ${w1}`) : undefined;
  if (two) return { cmd: two, rest: words.slice(2) };
  const subs = commands.filter((c) => !c.hidden && c.name.startsWith(`${w0} `));
  const one = commands.find((c) => c.name === w0);
  const wrongSub = w1 !== undefined && !w1.startsWith('-') && subs.length > 0 && (!one || one.args.length === 0);
  if (one && !wrongSub) return { cmd: one, rest: words.slice(1) };
  if (wrongSub || (subs.length && !one)) {
    const given = w1 !== undefined && !w1.startsWith('-') ? `${w0} ${w1}` : w0;
    const s = w1 !== undefined ? suggest(given, subs.map((c) => c.name)) : undefined;
    const list = subs.map((c) => c.name.slice(w0.length + 1)).join(', ');
    throw new UsageError(given === w0 ? `fcm ${w0} needs a subcommand: ${list}` : `unknown command "${given}" (fcm ${w0} has: ${list})`, s ? { suggestion: `fcm ${s}` } : {});
  }
  const s = suggest(w0, commands.filter((c) => !c.hidden).map((c) => c.name.split(' ')[0]!));
  throw new UsageError(`unknown command "${w0}"`, s ? { suggestion: `fcm ${s}` } : {});
}

function help(ctx: Ctx, commands: Command[], version: string, args: string[]): number {
  ctx.print(args.length ? commandHelp(find(commands, args).cmd, ctx.out, commands) : topHelp(commands, version, ctx.out));
  return EXIT.ok;
}

function printVersion(ctx: Ctx, version: string): number {
  ctx.print(ctx.json ? `${JSON.stringify({ version })}\n` : `fcm ${version}\n`);
  return EXIT.ok;
}
