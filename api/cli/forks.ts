/**
 * `fcm fork [<vm>] <new-name>` (forkVm): hand-written because its two
 * positionals read either way — one is the new name (the parent from -a or
 * ./.fcm), two are parent and new name, as the issue spells it — and because
 * it reports the parent's pause (the Fcm-Parent-Paused-Ms header) besides the
 * new VM. It writes nothing to ./.fcm: the directory stays about the parent.
 */
import type { Vm } from '../client.js';
import { errorFromResponse } from '../errors.js';
import { VmName, matches } from '../patterns.gen.js';
import { APP_FLAG, appName } from './app.js';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import { UsageError, type Parsed } from './parse.js';
import { progress, seconds } from './progress.js';
import { EXIT } from './render-error.js';

export function forkCommands(): Command[] {
  return [
    {
      name: 'fork',
      group: 'vms',
      summary: 'Fork a running VM into a new one (memory, processes and disk; its own URL and identity)',
      description:
        'Makes a new VM from the running VM\'s live state: memory, processes and disk of one instant. The\n' +
        'parent keeps running (it is paused only while its used memory is written; fcm says how long). The\n' +
        'fork gets its own address, MAC, hostname, machine-id, fresh kernel entropy, URL and route, and its own\n' +
        'copy of the app: config vars, releases and git repository — push a branch to it and only the fork\n' +
        'deploys it (a preview app per branch). Deleting the parent leaves the fork as it is.\n' +
        'With one name, the parent is -a/--app or the VM in ./.fcm; ./.fcm is not changed.',
      args: [
        { name: 'vm', description: 'The VM to fork (default: -a/--app or the VM in ./.fcm)', optional: true, vmRef: true },
        { name: 'new-name', description: "The fork's name", optional: false },
      ],
      flags: [APP_FLAG, { long: 'wait', type: 'boolean', negatable: true, default: true, description: 'Wait until the fork is running (--no-wait returns at once)' }],
      examples: [
        'fcm fork web web-pr-12',
        'fcm fork -a web web-pr-12',
        'fcm fork web-pr-12            # the parent from ./.fcm',
        '# a preview app per branch:\nfcm fork web web-feature && git remote add fcm-preview "$(fcm show web-feature --json | jq -r .gitUrl)" && git push fcm-preview feature:main',
        'fcm fork web web-pr-12 --json',
      ],
      run: fork,
    },
  ];
}

async function fork(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'fork';
  const pos = parsed.positionals;
  if (pos.length === 0) throw new UsageError('missing <new-name>: fcm fork [<vm>] <new-name>');
  if (pos.length > 2) throw new UsageError(`too many arguments: fcm fork [<vm>] <new-name> (got ${pos.length})`);
  const newName = pos[pos.length - 1]!;
  if (!matches(VmName, newName)) throw new UsageError(`<new-name> ${JSON.stringify(newName)} is not a VM name (lowercase letters, digits and dashes)`);
  const parent = appName(ctx, parsed, pos.length === 2 ? pos[0] : undefined, 'fcm fork <vm> <new-name> or -a <vm>');
  if (parent === newName) throw new UsageError(`the fork needs a name of its own (not ${JSON.stringify(parent)})`);
  const client = ctx.client();
  const signal = ctx.io.signal ? { signal: ctx.io.signal } : {};
  const p = progress(ctx.io.stderr, { quiet: ctx.json, color: ctx.errColor, now: () => ctx.now() });
  const t0 = ctx.now();
  p.start(`Forking ${parent} into ${newName}`);
  let vm: Vm;
  let pausedMs: number | null;
  try {
    const res = await client.raw.POST('/v1/vms/{name}/fork', { params: { path: { name: parent } }, body: { name: newName }, ...signal });
    if (res.error !== undefined || !res.response.ok) throw errorFromResponse(res.response, res.error);
    vm = res.data as Vm;
    const h = Number(res.response.headers.get('fcm-parent-paused-ms'));
    pausedMs = Number.isFinite(h) && res.response.headers.has('fcm-parent-paused-ms') ? h : null;
    p.stop(`Forked (${seconds(ctx.now() - t0)})`);
  } catch (e) {
    p.stop();
    throw e;
  }
  if (!ctx.json && pausedMs !== null) ctx.io.stderr.write(`${parent} was paused ${pausedMs} ms for the fork.\n`);
  if (parsed.flags.wait !== false && vm.state !== 'running') {
    const w = progress(ctx.io.stderr, { quiet: ctx.json, color: ctx.errColor, now: () => ctx.now() });
    const t1 = ctx.now();
    w.start(`Waiting for ${newName} to take its identity`);
    try {
      vm = await client.vms.waitFor(newName, 'running', signal);
      w.stop(`${newName} is running (${seconds(ctx.now() - t1)})`);
    } catch (e) {
      w.stop();
      throw e;
    }
  }
  if (ctx.json) {
    ctx.print(`${JSON.stringify(vm, null, 2)}\n`);
    return EXIT.ok;
  }
  ctx.print(`Forked ${parent} into ${vm.name}: ${vm.state}\nURL: ${vm.url}\nGit: ${vm.gitUrl}\n`);
  ctx.note(`Deploy a branch onto it: git remote add ${vm.name} ${vm.gitUrl} && git push ${vm.name} <branch>:main`);
  return EXIT.ok;
}
