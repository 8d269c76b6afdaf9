/**
 * The command registry. Every operation with `x-cli` in openapi.yaml becomes
 * a command through the generic executor below (args, flags, confirm, call,
 * waitFor, output — all from its CommandSpec); a new operation needs no code.
 * Hand-written: commands that are not one API call (daemon, completion,
 * help) and small hooks keyed by operationId (create remembers the VM in
 * ./.fcm, destroy forgets it).
 */
import { readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import type { VmState } from '../client.js';
import type { CommandSpec } from '../gen/cli-table.js';
import { completionScript, SHELLS, type Shell } from './completion.js';
import { consoleCommand } from './console.js';
import { runCommand } from './run-command.js';
import type { Ctx } from './context.js';
import { runDaemon } from './daemon.js';
import { fill, keyValues, rowsOf, showRelease, showVm, table } from './format.js';
import { APP_FLAG, appName } from './app.js';
import { quotaCommand } from './quota.js';
import { hostCommands } from './hosts.js';
import { terraformCommands } from './terraform-install.js';
import { openVersionCommands } from './open-version.js';
import { authCommands } from './login.js';
import { deployCommands } from './deploys.js';
import { gitRemoteHint } from './git-remote.js';
import { keysCommands } from './keys.js';
import { backupCommands } from './backups.js';
import { forkCommands } from './forks.js';
import { terminalColumns, type InStream } from './io.js';
import type { ArgDef, Command } from './command.js';
import { convertArg, flagFromSpec, UsageError, type FlagDef, type Parsed } from './parse.js';
import { progress, seconds } from './progress.js';
import { CliError, EXIT } from './render-error.js';
import { displayPath, removeDotfile, writeDotfile } from './resolve.js';

export const YES_FLAG: FlagDef = { long: 'yes', short: 'y', type: 'boolean', description: "Don't ask for confirmation" };

function waitFlag(state: string): FlagDef {
  return { long: 'wait', type: 'boolean', negatable: true, default: true, description: `Wait until the VM is ${state} (--no-wait returns at once)` };
}

type Obj = Record<string, unknown>;

interface Hook {
  /** Right after the call succeeded, before any wait; returns a note for stderr, shown after the output. */
  afterCall?(ctx: Ctx, result: unknown, values: Record<string, string>): string | undefined;
  /** Human output instead of the generic one (never under --json). */
  output?(ctx: Ctx, result: unknown): void;
}

/** The only per-operation code: what a command does besides its one call. Keyed by operationId. */
const HOOKS: Record<string, Hook> = {
  createVm: {
    // Written before waiting, so a VM that fails to boot is still remembered (fcm destroy finds it).
    afterCall(ctx, result) {
      const vm = result as { name: string; gitUrl?: string };
      const prev = ctx.dotfile();
      const path = writeDotfile(ctx.io.cwd, { vm: vm.name, host: ctx.host().url });
      const notes: string[] = [];
      if (prev?.vm && prev.path === path && prev.vm !== vm.name) notes.push(`${displayPath(path, ctx.io.cwd)} pointed at ${prev.vm}; it now points at ${vm.name}`);
      // In a git repository: how to deploy it (a hint only; fcm does not change the repository's config).
      const hint = vm.gitUrl ? gitRemoteHint(ctx.io.cwd, vm.gitUrl) : null;
      if (hint) notes.push(hint);
      return notes.length ? notes.join('\n') : undefined;
    },
  },
  getVm: {
    output: (ctx, result) => ctx.print(showVm(result as Obj, ctx.out, ctx.now(), ctx.io.env)),
  },
  getRelease: {
    output: (ctx, result) => ctx.print(showRelease(result as Obj, ctx.out, ctx.now(), ctx.io.env)),
  },
  deleteVm: {
    afterCall(ctx, _result, values) {
      const d = ctx.dotfile();
      if (!d?.vm || d.vm !== values.name) return undefined;
      removeDotfile(d.path);
      return `Removed ${displayPath(d.path, ctx.io.cwd)}`;
    },
  },
};

export function commandFromSpec(spec: CommandSpec): Command {
  // Every command about one VM takes -a/--app (app.ts), whether the spec names the VM by a positional or not.
  const aboutVm = spec.args.some((a) => a.vmRef) || spec.flags.some((f) => f.vmRef);
  return {
    name: spec.command,
    group: spec.group,
    summary: spec.summary,
    description: spec.description,
    args: spec.args.map((a) => ({
      name: a.name,
      optional: a.vmRef || !a.required,
      vmRef: a.vmRef,
      ...(a.fromFile ? { file: true } : {}),
      description: a.vmRef ? `${a.description || 'The VM'} (default: the VM in ./.fcm)` : `${a.description}${a.required ? '' : ' (optional)'}`.trim(),
    })),
    flags: [
      ...(aboutVm ? [APP_FLAG] : []),
      ...spec.flags.filter((f) => !f.vmRef).map(flagFromSpec),
      ...(spec.waitFor ? [waitFlag(spec.waitFor)] : []),
      ...(spec.confirm ? [YES_FLAG] : []),
    ],
    examples: spec.examples,
    spec,
    run: (ctx, parsed) => runOperation(ctx, spec, parsed),
  };
}

/** The generic executor: one API call described by a CommandSpec. */
export async function runOperation(ctx: Ctx, spec: CommandSpec, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = spec.command;
  ctx.errCtx.spec = spec;

  // `values`: what the user named, as typed (for messages); the request gets converted values.
  const values: Record<string, string> = {};
  const path: Record<string, string> = {};
  const query: Obj = {};
  const body: Obj = {};
  const vmArg = spec.args.findIndex((a) => a.vmRef);
  const vmFlag = spec.flags.find((f) => f.vmRef);
  if (vmArg !== -1 || vmFlag) {
    const how = vmArg !== -1 ? `fcm ${spec.command} <${spec.args[vmArg]!.name}> or -a <app>` : `fcm ${spec.command} -a <app>`;
    const name = appName(ctx, parsed, vmArg !== -1 ? parsed.positionals[vmArg] : undefined, how);
    const key = vmArg !== -1 ? spec.args[vmArg]!.name : vmFlag!.name;
    path[key] = values[key] = name;
  }
  spec.args.forEach((a, i) => {
    if (a.vmRef) return;
    const v = parsed.positionals[i];
    if (v === undefined) {
      if (a.required) throw new UsageError(`missing <${a.name}>`);
      return;
    }
    values[a.name] = v;
    if (a.in === 'path') path[a.name] = v;
    else body[a.name] = a.fromFile ? readArgFile(ctx, a.name, v) : convertArg(`<${a.name}>`, a.type, v);
  });
  for (const f of spec.flags) {
    if (f.vmRef) continue;
    const v = parsed.flags[f.flag];
    if (v === undefined) continue;
    if (f.in === 'path') path[f.name] = values[f.name] = String(v);
    else (f.in === 'query' ? query : body)[f.name] = v;
  }

  if (spec.confirm && parsed.flags.yes !== true) await confirm(ctx, spec, fill(spec.confirm, values));

  const client = ctx.client(spec.auth);
  const signal = ctx.io.signal ? { signal: ctx.io.signal } : {};
  const call = () =>
    client.call(
      spec.method,
      spec.path,
      { path, query, ...(Object.keys(body).length ? { body } : {}) },
      { ...signal, ...(spec.responseType === 'text' ? { parseAs: 'text' as const } : {}) },
    );
  let result = spec.progress ? await withProgress(ctx, fill(spec.progress, values), call) : await call();
  const note = HOOKS[spec.operationId]?.afterCall?.(ctx, result, values);

  if (spec.waitFor && parsed.flags.wait !== false && needsWait(result, spec.waitFor)) {
    const name = String((result as Obj | undefined)?.name ?? values.name);
    result = await waitWithProgress(ctx, name, spec.waitFor as VmState);
  }
  const custom = HOOKS[spec.operationId]?.output;
  if (custom && !ctx.json) custom(ctx, result);
  else output(ctx, spec, result, values);
  if (note && !ctx.json) ctx.note(note);
  return EXIT.ok;
}

/**
 * Whether to wait for `target` after the call: not when the answer is in that
 * state already, nor when it is at rest elsewhere (an update of a stopped VM
 * leaves it stopped: waiting for running would never end).
 */
export function needsWait(result: unknown, target: string): boolean {
  const state = (result as Obj | undefined)?.state;
  if (typeof state !== 'string') return true;
  return state !== target && state !== 'stopped' && state !== 'sleeping';
}

/** A spinner (stderr, TTY) or a line (no TTY; nothing under --json) while `work` runs; on success, how long it took. */
async function withProgress<T>(ctx: Ctx, label: string, work: () => Promise<T>): Promise<T> {
  const p = progress(ctx.io.stderr, { quiet: ctx.json, color: ctx.errColor, now: () => ctx.now() });
  const t0 = ctx.now();
  p.start(label);
  try {
    const r = await work();
    p.stop(`Done (${seconds(ctx.now() - t0)})`);
    return r;
  } catch (e) {
    p.stop();
    throw e;
  }
}

async function waitWithProgress(ctx: Ctx, name: string, state: VmState): Promise<unknown> {
  const p = progress(ctx.io.stderr, { quiet: ctx.json, color: ctx.errColor, now: () => ctx.now() });
  const t0 = ctx.now();
  p.start(`Waiting for ${name} to be ${state}`);
  try {
    const vm = await ctx.client().vms.waitFor(name, state, ctx.io.signal ? { signal: ctx.io.signal } : {});
    p.stop(`${name} is ${state} (${seconds(ctx.now() - t0)})`);
    return vm;
  } catch (e) {
    p.stop();
    throw e;
  }
}

function output(ctx: Ctx, spec: CommandSpec, result: unknown, values: Record<string, string>): void {
  if (ctx.json) {
    if (result !== undefined) ctx.print(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  if (typeof result === 'string' && spec.responseType === 'text') {
    ctx.print(result);
    return;
  }
  const obj = result && typeof result === 'object' && !Array.isArray(result) ? (result as Obj) : null;
  if (spec.columns) {
    const rows = rowsOf(result);
    if (rows.length === 0 && spec.empty) ctx.io.stderr.write(`${spec.empty}\n`);
    else ctx.print(table(rows, spec.columns, ctx.out, ctx.now(), terminalColumns(ctx.io.stdout, ctx.io.env)));
  } else if (spec.message) {
    ctx.print(`${fill(spec.message, obj, values)}\n`);
  } else if (obj) {
    ctx.print(keyValues(obj, ctx.out));
  } else if (result !== undefined) {
    ctx.print(`${String(result)}\n`);
  }
}

/** An argument given as a file path (`fcm keys add ~/.ssh/id_ed25519.pub`): its contents, trimmed. */
function readArgFile(ctx: Ctx, name: string, given: string): string {
  const path = resolvePath(ctx.io.cwd, given.startsWith('~/') ? join(ctx.io.home, given.slice(2)) : given);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new UsageError(`<${name}> is read from a file, and ${given} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Asks on the terminal; without one, refuses (usage error) unless --yes was given. */
async function confirm(ctx: Ctx, spec: CommandSpec, question: string): Promise<void> {
  if (!ctx.io.stdin.isTTY) {
    throw new UsageError(`fcm ${spec.command} asks for confirmation, and there is no terminal to ask on: pass --yes to go ahead`);
  }
  ctx.io.stderr.write(`${question} ${ctx.err.dim('[y/N]')} `);
  const answer = await readLine(ctx.io.stdin, ctx.io.signal);
  if (!/^\s*y(es)?\s*$/i.test(answer)) throw new CliError('Cancelled; nothing was changed.');
}

export function readLine(stdin: InStream, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const finish = (err: unknown, line?: string) => {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      signal?.removeEventListener('abort', onAbort);
      stdin.pause?.();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    const onData = (d: string | Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i !== -1) finish(null, buf.slice(0, i).replace(/\r$/, ''));
    };
    const onEnd = () => finish(null, buf);
    const onAbort = () => finish(signal!.reason ?? Object.assign(new Error('aborted'), { name: 'AbortError' }));
    if (signal?.aborted) return onAbort();
    stdin.setEncoding?.('utf8');
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    signal?.addEventListener('abort', onAbort, { once: true });
    stdin.resume?.();
  });
}

/** Commands that are not one API call. `all()` is passed in for those that list the others. */
function handWritten(all: () => Command[]): Command[] {
  return [
    consoleCommand(),
    ...deployCommands(),
    ...keysCommands(),
    ...backupCommands(),
    ...forkCommands(),
    ...authCommands(),
    quotaCommand(),
    ...hostCommands(),
    ...terraformCommands(),
    ...openVersionCommands(),
    runCommand(),
    {
      name: 'daemon',
      group: 'system',
      summary: 'Run the fcm daemon (as root)',
      description: 'Runs the daemon in the foreground; configure it with FCM_* environment variables.\nCtrl-C or SIGTERM stops it; VMs keep running.\n`fcm daemon migrate-to-postgres` moves the SQLite state into the empty PostgreSQL\ndatabase FCM_DATABASE_URL names (stop the daemon first; --help for more).',
      args: [{ name: 'args', description: 'Passed to the daemon', optional: true, variadic: true }],
      flags: [],
      examples: ['sudo fcm daemon', 'sudo FCM_PORT=8080 fcm daemon', 'sudo FCM_DATABASE_URL=postgresql://fcm@/fcm?host=/run/postgresql fcm daemon migrate-to-postgres'],
      passthrough: true,
      run: (_ctx, parsed) => runDaemon(parsed.positionals),
    },
    {
      name: 'completion',
      group: 'shell',
      summary: 'Print a shell completion script (bash, zsh or fish)',
      description: 'Completes commands, flags, flag values and VM names.',
      args: [{ name: 'shell', description: 'bash, zsh or fish', optional: false, choices: SHELLS }],
      flags: [],
      examples: ['source <(fcm completion bash)', 'fcm completion zsh > "${fpath[1]}/_fcm"', 'fcm completion fish > ~/.config/fish/completions/fcm.fish'],
      run: async (ctx, parsed) => {
        const shell = parsed.positionals[0];
        if (!SHELLS.includes(shell as Shell)) {
          throw new UsageError(shell ? `no completion for "${shell}": use ${SHELLS.join(', ')}` : `which shell? fcm completion ${SHELLS.join('|')}`);
        }
        ctx.print(completionScript(shell as Shell, all()));
        return EXIT.ok;
      },
    },
    {
      name: 'help',
      group: 'shell',
      summary: 'Show help for a command',
      args: [{ name: 'command', description: 'A command', optional: true }],
      flags: [],
      examples: ['fcm help create'],
      hidden: true,
      run: async () => EXIT.ok, // handled by the dispatcher (it knows the registry and the version)
    },
    {
      name: '__complete',
      group: 'shell',
      summary: 'Values for shell completion',
      args: [{ name: 'kind', description: 'vms', optional: false }],
      flags: [],
      examples: [],
      hidden: true,
      run: async (ctx, parsed) => {
        // Completion must never print errors into the user's command line.
        if (parsed.positionals[0] !== 'vms') return EXIT.usage;
        try {
          const { vms } = await ctx.client().vms.list();
          ctx.print(vms.map((v) => `${v.name}\n`).join(''));
          return EXIT.ok;
        } catch {
          return EXIT.failure;
        }
      },
    },
  ];
}

/**
 * Spec commands plus hand-written ones. A hand-written command replaces a
 * spec command of the same name (it does more than the one call); a
 * placeholder gives way to a spec command.
 */
export function buildCommands(table: CommandSpec[]): Command[] {
  const byName = new Map<string, Command>();
  for (const spec of table) byName.set(spec.command, commandFromSpec(spec));
  const all = () => [...byName.values()];
  for (const c of handWritten(all)) {
    if (c.placeholder && byName.has(c.name)) continue;
    byName.set(c.name, c);
  }
  return all();
}
