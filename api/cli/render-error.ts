/**
 * Every failure printed the same way, on stderr:
 *   Error: <problem title> [<code>]
 *     <detail, or each field error>
 *   Hint: <what to do next>
 * The stable `code` (api/errors.ts, daemon/core/errors.ts) is shown for API
 * errors, so a user can search for it and a script can match it. Under
 * --json the same failure is one JSON object on stderr (errorJson): stdout
 * carries only successful results, so `fcm show --json | jq` never parses an
 * error as a VM. Hints branch on the problem `code` (and the network error's
 * code), never on text.
 */
import type { CommandSpec } from '../gen/cli-table.js';
import { ApiError, describeLimit, TLS_CODES } from '../errors.js';
import type { Style } from './io.js';
import { UsageError } from './parse.js';
import type { HostSource } from './resolve.js';

export interface ErrorContext {
  /** e.g. "stop"; null at the top level. */
  command: string | null;
  spec?: CommandSpec | undefined;
  host?: { url: string; source: HostSource } | undefined;
  /** Where the token came from, or null if there was none. */
  tokenSource?: string | null | undefined;
  /** The VM the command was about; `dotfile` when its name came from a .fcm file. */
  vm?: { name: string; dotfile?: string | undefined } | undefined;
}

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** A failure the CLI itself reports (not an API error): a title, optional detail and hint; exit 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly opts: { detail?: string; hint?: string } = {},
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT.usage;
  if ((e as Error)?.name === 'AbortError') return EXIT.interrupted;
  return EXIT.failure;
}

export function renderError(e: unknown, ctx: ErrorContext, st: Style): string {
  const lines: string[] = [];
  const head = (title: string) => lines.push(`${st.red(st.bold('Error:'))} ${title}`);
  const hint = (h: string) => lines.push(`${st.cyan('Hint:')} ${h}`);

  if (e instanceof UsageError) {
    head(e.message);
    if (e.opts.suggestion) lines.push(`Did you mean ${st.bold(e.opts.suggestion)}?`);
    hint(ctx.command ? `fcm ${ctx.command} --help shows how to use it` : 'fcm --help lists the commands');
    return lines.join('\n') + '\n';
  }
  if (e instanceof ApiError) {
    head(`${e.title} ${st.dim(`[${e.code}]`)}`);
    if (e.errors.length) {
      for (const fe of e.errors) lines.push(`  ${fieldName(fe.path, ctx.spec)}: ${fe.message}`);
    } else if (e.detail) {
      lines.push(...e.detail.split('\n').map((l) => `  ${l}`));
    }
    if (e.limit) lines.push(`  ${describeLimit(e.limit)}`);
    if (e.code === 'unreachable' && ctx.host) lines.push(st.dim(`  (host from ${hostSourceText(ctx.host.source)})`));
    if (e.requestId && (e.status >= 500 || e.code === 'internal')) lines.push(st.dim(`  request id: ${e.requestId}`));
    const h = hintFor(e, ctx);
    if (h) hint(h);
    return lines.join('\n') + '\n';
  }
  if (e instanceof CliError) {
    head(e.message);
    if (e.opts.detail) lines.push(...e.opts.detail.split('\n').map((l) => `  ${l}`));
    if (e.opts.hint) hint(e.opts.hint);
    return lines.join('\n') + '\n';
  }
  if ((e as Error)?.name === 'AbortError') return `${st.dim('Interrupted.')}\n`;
  head((e as Error)?.message ?? String(e));
  return lines.join('\n') + '\n';
}

/**
 * The failure as one JSON object (--json; printed on stderr with a newline):
 * an API error is its problem document's members plus `hint` and `exitCode`;
 * a usage error has code `usage_error`, a failure of the CLI itself
 * `cli_error`, Ctrl-C `interrupted`. `code` is always there.
 */
export function errorJson(e: unknown, ctx: ErrorContext): Record<string, unknown> {
  const exitCode = exitCodeFor(e);
  if (e instanceof UsageError) {
    return {
      code: 'usage_error',
      title: e.message,
      ...(e.opts.suggestion ? { suggestion: e.opts.suggestion } : {}),
      hint: ctx.command ? `fcm ${ctx.command} --help shows how to use it` : 'fcm --help lists the commands',
      exitCode,
    };
  }
  if (e instanceof ApiError) {
    const h = hintFor(e, ctx);
    return {
      code: e.code,
      title: e.title,
      status: e.status,
      ...(e.detail ? { detail: e.detail } : {}),
      ...(e.errors.length ? { errors: e.errors.map((fe) => ({ ...fe, flag: fieldName(fe.path, ctx.spec) })) } : {}),
      ...(e.limit ? { limit: e.limit } : {}),
      ...(e.requestId ? { requestId: e.requestId } : {}),
      ...(e.causeCode ? { cause: e.causeCode } : {}),
      ...(h ? { hint: h } : {}),
      exitCode,
    };
  }
  if ((e as Error)?.name === 'AbortError') return { code: 'interrupted', title: 'Interrupted', exitCode };
  if (e instanceof CliError) {
    return { code: 'cli_error', title: e.message, ...(e.opts.detail ? { detail: e.opts.detail } : {}), ...(e.opts.hint ? { hint: e.opts.hint } : {}), exitCode };
  }
  return { code: 'cli_error', title: (e as Error)?.message ?? String(e), exitCode };
}

function hostSourceText(s: HostSource): string {
  return s === 'default' ? 'the default; set --host or FCM_HOST' : s;
}

/** `/body/memoryMib` → `--memory-mib` when the command has that flag; `/params/name` → `name`. */
export function fieldName(path: string, spec?: CommandSpec): string {
  const [, where, prop] = /^\/(body|query|params|path)\/([^/]+)/.exec(path) ?? [];
  if (!prop || !spec) return path;
  const flag = spec.flags.find((f) => f.name === prop && (where === 'body' ? f.in === 'body' : f.in === 'query'));
  if (flag) return `--${flag.flag}${path.slice(`/${where}/${prop}`.length)}`;
  if (spec.args.some((a) => a.name === prop)) return `<${prop}>`;
  return path;
}

export function hintFor(e: ApiError, ctx: ErrorContext): string | null {
  const cmd = ctx.command ?? '<command>';
  const vm = ctx.vm;
  const named = vm?.dotfile ? '' : vm ? ` ${vm.name}` : ' <name>';
  switch (e.code) {
    case 'unreachable':
      if (e.causeCode === 'ECONNREFUSED') return 'is the daemon running? sudo fcm daemon';
      if (e.causeCode === 'ERR_TLS_CERT_ALTNAME_INVALID') return "the server's certificate is for another name: use the host name in the server's FCM_PUBLIC_URL";
      if (e.causeCode && TLS_CODES.test(e.causeCode)) {
        return "the server's certificate is not trusted here: pass its CA with --ca-file (or FCM_CA_FILE; fcm login --ca-file saves it). With FCM_TLS=internal the server writes it to <state dir>/ca.pem";
      }
      if (e.causeCode === 'ENOTFOUND' || e.causeCode === 'EAI_AGAIN') return 'check the host name (--host, FCM_HOST or ./.fcm)';
      return 'is the server up and reachable? check --host / FCM_HOST';
    case 'bad_response':
      return 'is --host / FCM_HOST pointing at an fcm daemon?';
    case 'unauthorized':
      if (ctx.tokenSource === 'credentials') return `the token stored for ${ctx.host?.url ?? 'this host'} was not accepted (expired or revoked): run fcm login --host ${ctx.host?.url ?? '<url>'}`;
      return ctx.tokenSource
        ? `the token from ${ctx.tokenSource} was not accepted: run fcm login`
        : 'no token found (FCM_TOKEN or ~/.fcm-token): run fcm login, or set FCM_TOKEN to the admin token from the daemon\'s state dir (.token)';
    case 'forbidden':
      return 'this token may not do that: fcm whoami shows who you are';
    case 'vm_not_found':
      return vm?.dotfile
        ? `fcm ls shows your VMs (the name "${vm.name}" came from ${vm.dotfile}; delete that file if the VM is gone)`
        : 'fcm ls shows your VMs';
    case 'not_implemented':
      return 'this daemon does not do that yet; an updated fcm daemon will';
    case 'key_invalid':
      return 'give the public key file (the .pub one), e.g. ~/.ssh/id_ed25519.pub';
    case 'key_taken':
      return 'a key can belong to one account only; fcm keys lists yours';
    case 'key_proof_failed':
      return 'fcm keys add signs the challenge for you with the private key (ssh-agent, or the file next to the .pub)';
    case 'release_not_found':
      return `fcm releases${named === ' <name>' ? '' : named} lists the releases`;
    case 'snapshot_not_found':
      return `fcm snapshot ls${named === ' <name>' ? '' : named.replace(/^ /, ' --name ')} lists the snapshots`;
    case 'no_previous_release':
      return 'a rollback needs an earlier release: fcm releases lists them';
    case 'deploy_failed':
      return `fcm releases${named === ' <name>' ? '' : named} shows the failed release; fix and git push again`;
    case 'auth_not_configured':
      return "the daemon's operator has to set up login; until then use a token (FCM_TOKEN)";
    case 'domain_taken':
      return 'that domain is verified for another VM (a domain can be routed to one VM only)';
    case 'domain_not_verified':
      return `create the TXT record fcm domains${named === ' <name>' ? '' : named} shows, give DNS a moment, then verify again`;
    case 'name_taken':
      return 'pick another name, or leave it out and fcm picks one (fcm ls shows the names in use)';
    case 'validation_failed':
      return `fcm ${cmd} --help shows the flags and their limits`;
    case 'invalid_state':
      return `fcm show${named} shows the VM's state`;
    case 'vm_failed':
      return `fcm show${named} shows lastError; fcm destroy${named} removes the VM`;
    case 'wait_timeout':
      return `the VM may still be booting: fcm wait${named} waits again`;
    case 'quota_exceeded':
      return 'fcm quota shows your limits and usage; destroy or shrink what you no longer need, or ask an admin (fcm quota set)';
    case 'insufficient_capacity':
      return 'the server is full: stop or shrink VMs you do not need (fcm ls), or ask its operator';
    case 'ip_pool_exhausted':
      return 'destroy VMs you no longer need (fcm ls, fcm destroy <name>)';
    case 'image_missing':
      return 'the server has no such image; leave out --image to use the base image';
    case 'disk_full':
      return 'free disk space on the server, or destroy VMs you no longer need';
    case 'rate_limited':
      return 'wait a moment and try again';
    case 'hypervisor_failed':
    case 'internal':
      return "the daemon's log has the details (search for the request id)";
    default:
      return null;
  }
}
