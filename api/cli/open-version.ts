/**
 * `fcm open` (the app's URL in a browser) and `fcm version` (this CLI's
 * version and the daemon's): small commands that are more than one API call
 * rendered generically.
 */
import type { Vm } from '../client.js';
import { isApiError } from '../errors.js';
import { APP_FLAG, appName } from './app.js';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import { openBrowser } from './login.js';
import type { Parsed } from './parse.js';
import { EXIT } from './render-error.js';

/** How long `fcm version` waits for the daemon before saying it is not reachable. */
const VERSION_TIMEOUT_MS = 5000;

export function openVersionCommands(): Command[] {
  return [
    {
      name: 'open',
      group: 'vms',
      summary: "Open the app's URL in your browser",
      description:
        "Opens the VM's HTTPS URL with $BROWSER, else the platform's opener (open on macOS, xdg-open in a\n" +
        'Linux desktop session), started with the URL as its one argument (never through a shell).\n' +
        'When there is no opener, or stdout is not a terminal (fcm open | pbcopy), prints the URL instead.',
      args: [{ name: 'name', description: "The VM's name (default: the VM in ./.fcm)", optional: true, vmRef: true }],
      flags: [APP_FLAG, { long: 'print', short: 'p', type: 'boolean', description: 'Only print the URL' }],
      examples: ['fcm open', 'fcm open -a cosmic-nova', 'fcm open --print'],
      run: openApp,
    },
    {
      name: 'version',
      group: 'system',
      summary: "Show this CLI's version and the daemon's",
      description: "The daemon's version comes from its health endpoint (no login needed); an unreachable daemon is\nreported, not an error (exit 0).",
      args: [],
      flags: [],
      examples: ['fcm version', 'fcm version --json', 'fcm version --host fcm.example.com'],
      run: version,
    },
  ];
}

async function openApp(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'open';
  const name = appName(ctx, parsed, parsed.positionals[0], 'fcm open <name> or -a <app>');
  const vm = (await ctx.client().vms.get(name, ctx.io.signal ? { signal: ctx.io.signal } : {})) as Vm;
  const wantOpen = parsed.flags.print !== true && !ctx.json && Boolean(ctx.io.stdout.isTTY);
  const opened = wantOpen && openBrowser(vm.url, ctx.io.env);
  if (ctx.json) {
    ctx.print(`${JSON.stringify({ name: vm.name, url: vm.url, opened }, null, 2)}\n`);
    return EXIT.ok;
  }
  if (opened) {
    ctx.note(`Opened ${vm.url}`);
    return EXIT.ok;
  }
  ctx.print(`${vm.url}\n`);
  if (wantOpen) ctx.note('No browser to open it with (set $BROWSER); open the URL above yourself.');
  return EXIT.ok;
}

async function version(ctx: Ctx): Promise<number> {
  ctx.errCtx.command = 'version';
  const url = ctx.host().url;
  let daemon: { version: string; hypervisor: string } | null = null;
  let error: { code: string; title: string } | null = null;
  try {
    const signal = ctx.io.signal ? AbortSignal.any([ctx.io.signal, AbortSignal.timeout(VERSION_TIMEOUT_MS)]) : AbortSignal.timeout(VERSION_TIMEOUT_MS);
    const h = (await ctx.client(false).call('get', '/v1/health', {}, { signal })) as { version: string; hypervisor: string };
    daemon = { version: h.version, hypervisor: h.hypervisor };
  } catch (e) {
    if (ctx.io.signal?.aborted) throw e;
    error = isApiError(e) ? { code: e.code, title: e.title } : { code: 'unreachable', title: (e as Error).message };
  }
  if (ctx.json) {
    ctx.print(`${JSON.stringify({ cli: ctx.version, daemon: daemon ? { url, ...daemon } : null, ...(error ? { daemonError: { url, ...error } } : {}) }, null, 2)}\n`);
    return EXIT.ok;
  }
  ctx.print(`fcm ${ctx.version}\n`);
  if (daemon) ctx.print(`daemon ${daemon.version} at ${url} (${daemon.hypervisor})\n`);
  else ctx.print(`daemon at ${url}: not reachable (${error!.code}: ${error!.title})\n`);
  return EXIT.ok;
}
