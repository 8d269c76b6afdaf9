/**
 * What a command is: the shape every command module (commands.ts for the
 * spec-driven ones, login.ts, deploys.ts, console.ts, …) produces and
 * run.ts/help.ts/completion.ts consume. Its own module so that the command
 * modules and the registry (commands.ts) do not import each other.
 */
import type { CommandSpec } from '../gen/cli-table.js';
import type { Ctx } from './context.js';
import type { FlagDef, Parsed } from './parse.js';

export interface ArgDef {
  name: string;
  description: string;
  optional: boolean;
  variadic?: boolean;
  /** Completes to VM names; defaults to the VM in ./.fcm. */
  vmRef?: boolean;
  choices?: string[];
  /** A file path (shells complete file names). */
  file?: boolean;
}

export interface Command {
  name: string;
  /** Help group: the operation's first tag, or one a hand-written command picks. */
  group: string;
  summary: string;
  description?: string;
  args: ArgDef[];
  flags: FlagDef[];
  examples: string[];
  hidden?: boolean;
  /** Everything after the command name goes to run() untouched (except a leading --help). */
  passthrough?: boolean;
  /** Flags only before the first argument (or --): the rest is passed on untouched, flags included (fcm run). */
  flagsFirst?: boolean;
  /** A stand-in until a later release; a spec command of the same name replaces it. */
  placeholder?: boolean;
  spec?: CommandSpec;
  run(ctx: Ctx, parsed: Parsed): Promise<number>;
}
