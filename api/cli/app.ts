/**
 * One way to say which app (VM) a command is about, the same in every command:
 *   -a/--app <name>  >  the positional name where a command had one  >  ./.fcm
 * The positional form stays (`fcm stop cosmic-nova`); giving both with different
 * names is a usage error, not a guess. `--name <vm>`, which `env set`, `rollback`
 * and `domains verify` used to take, still works and says it is deprecated.
 */
import type { Ctx } from './context.js';
import { UsageError, type FlagDef, type Parsed } from './parse.js';
import { displayPath } from './resolve.js';

export const APP_FLAG: FlagDef = {
  long: 'app',
  short: 'a',
  type: 'string',
  vmRef: true,
  valueName: 'app',
  aliases: ['name'],
  description: 'The app (VM) to act on (default: the VM in ./.fcm)',
};

/**
 * The app named by -a/--app or `positional`, else the one in ./.fcm; recorded
 * for error messages (a name from .fcm is pointed out when it is not found).
 * `how` completes "which VM? Name it (…)".
 */
export function appName(ctx: Ctx, parsed: Parsed, positional: string | undefined, how: string): string {
  const flag = typeof parsed.flags.app === 'string' ? parsed.flags.app : undefined;
  if (flag !== undefined && positional !== undefined && flag !== positional) {
    throw new UsageError(`two apps named: "${positional}" and --app ${flag}; give one`);
  }
  let name = flag ?? positional;
  let dotfile: string | undefined;
  if (name === undefined) {
    const d = ctx.dotfile();
    if (!d?.vm) throw new UsageError(`which VM? Name it (${how}), or run this where fcm create wrote a .fcm file`);
    name = d.vm;
    dotfile = displayPath(d.path, ctx.io.cwd);
  }
  if (name === '') throw new UsageError('--app needs a name');
  ctx.errCtx.vm = { name, dotfile };
  return name;
}
