/**
 * `fcm backup export` / `fcm backup import`: archives stream between a file
 * (or stdout) and the daemon (exportBackup / importBackup) without ever being
 * held whole in memory; progress (bytes, rate) goes to stderr, so stdout can
 * carry the archive itself. Plain node:http(s) (with the host's CA), because
 * fetch would buffer an upload.
 */
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { resolve as resolvePath } from 'node:path';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { trustedCas } from '../ca-fetch.js';
import { errorFromResponse } from '../errors.js';
import { VmName, matches } from '../patterns.gen.js';
import { APP_FLAG, appName } from './app.js';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import { UsageError, type Parsed } from './parse.js';
import { CliError, EXIT } from './render-error.js';

const MEDIA = 'application/x-fcm-backup';

export function backupCommands(): Command[] {
  return [
    {
      name: 'backup export',
      group: 'vms',
      summary: 'Write a VM to a portable backup archive (stdout or -o FILE)',
      description:
        'Streams a checksummed archive of the VM: its disk (compressed), config vars, release history and a\n' +
        'manifest with a SHA-256 per member. A running VM is put to sleep first so its disk is consistent\n' +
        '(the next request wakes it). The archive holds the config vars: keep it like a password.\n' +
        'Restore it here or on another fcm server with `fcm backup import`.\n' +
        '--with-memory also carries its memory state (saved with the disk), checked on import; an import on a\n' +
        'host of the same hypervisor and image build resumes it (processes alive) with the new VM\'s own identity\n' +
        '(VMs without swap); otherwise it boots from its disk and its lastError says why.',
      args: [{ name: 'name', description: "The VM's name (default: the VM in ./.fcm)", optional: true, vmRef: true }],
      flags: [
        APP_FLAG,
        { long: 'output', short: 'o', type: 'string', valueName: 'file', description: 'Write to this file (default stdout)' },
        { long: 'with-memory', type: 'boolean', description: 'Carry the memory state too (a running or sleeping VM)' },
      ],
      examples: ['fcm backup export cosmic-nova > cosmic-nova.fcm-backup', 'fcm backup export -o web.fcm-backup', 'fcm backup export web -o web.fcm-backup --json', 'fcm backup export web --with-memory -o web.fcm-backup'],
      run: exportBackup,
    },
    {
      name: 'backup import',
      group: 'vms',
      summary: 'Create a VM from a backup archive',
      description:
        'Streams the archive to the server, which checks every member against the manifest (sizes, SHA-256)\n' +
        'and the disk image before making anything: a truncated or damaged archive is refused and leaves\n' +
        'nothing behind. The new VM gets its own address and URL, the archive\'s config vars and releases,\n' +
        'and serves the app it had. `-` reads the archive from stdin.',
      args: [{ name: 'file', description: 'The archive (from fcm backup export), or - for stdin', optional: false }],
      flags: [{ long: 'name', type: 'string', valueName: 'name', description: "The new VM's name (default: the exported VM's)" }],
      examples: ['fcm backup import cosmic-nova.fcm-backup', 'fcm backup import web.fcm-backup --name web-restored', 'cat web.fcm-backup | fcm backup import - --json'],
      run: importBackup,
    },
  ];
}

async function exportBackup(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'backup export';
  const name = appName(ctx, parsed, parsed.positionals[0], 'fcm backup export <name> or -a <name>');
  const output = typeof parsed.flags.output === 'string' ? resolvePath(ctx.io.cwd, parsed.flags.output) : null;
  if (!output && ctx.io.stdout.isTTY) throw new UsageError('the archive is binary: redirect stdout to a file (fcm backup export > file) or use -o FILE');
  const res = await send(ctx, 'GET', `/v1/vms/${encodeURIComponent(name)}/backup${parsed.flags['with-memory'] === true ? '?withMemory=true' : ''}`, null);
  const total = Number(res.headers['content-length'] ?? NaN);
  const meter = new Meter(ctx, 'Exported', Number.isFinite(total) ? total : null);
  const started = Date.now();
  if (output) {
    // Written beside the target and renamed at the end: an interrupted export leaves no half file under its name.
    const tmp = `${output}.partial`;
    try {
      await pipeline(res, meter, createWriteStream(tmp, { mode: 0o600 }), ctx.io.signal ? { signal: ctx.io.signal } : {});
      if (Number.isFinite(total) && meter.bytes !== total) throw new CliError(`The server sent ${meter.bytes} of ${total} bytes: the archive is incomplete.`);
      await rename(tmp, output);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  } else {
    await pipeline(res, meter, ctx.io.stdout as unknown as Writable, { end: false, ...(ctx.io.signal ? { signal: ctx.io.signal } : {}) });
    if (Number.isFinite(total) && meter.bytes !== total) throw new CliError(`The server sent ${meter.bytes} of ${total} bytes: the archive is incomplete.`);
  }
  meter.done();
  const summary = { vm: name, bytes: meter.bytes, seconds: (Date.now() - started) / 1000, file: output };
  if (ctx.json) ctx.io.stderr.write(`${JSON.stringify(summary)}\n`);
  else ctx.io.stderr.write(`Exported ${name}: ${mib(meter.bytes)} in ${summary.seconds.toFixed(1)}s${output ? ` to ${output}` : ''}\n`);
  return EXIT.ok;
}

async function importBackup(ctx: Ctx, parsed: Parsed): Promise<number> {
  ctx.errCtx.command = 'backup import';
  const file = parsed.positionals[0]!;
  const name = typeof parsed.flags.name === 'string' ? parsed.flags.name : undefined;
  if (name !== undefined && !matches(VmName, name)) throw new UsageError(`--name ${JSON.stringify(name)} is not a VM name (lowercase letters, digits and dashes)`);
  let body: Readable;
  let total: number | null = null;
  if (file === '-') body = process.stdin;
  else {
    const path = resolvePath(ctx.io.cwd, file);
    try {
      total = statSync(path).size;
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    body = createReadStream(path, { highWaterMark: 1 << 20 });
  }
  const meter = new Meter(ctx, 'Uploaded', total);
  const started = Date.now();
  const res = await send(ctx, 'POST', `/v1/backups${name ? `?name=${encodeURIComponent(name)}` : ''}`, body.pipe(meter), total);
  meter.done();
  const vm = JSON.parse(await text(res)) as { name: string; url: string; state: string };
  if (ctx.json) ctx.print(`${JSON.stringify(vm, null, 2)}\n`);
  else ctx.print(`Imported ${vm.name} (${mib(meter.bytes)} in ${((Date.now() - started) / 1000).toFixed(1)}s): ${vm.state}\nURL: ${vm.url}\n`);
  return EXIT.ok;
}

/** One request to the daemon; resolves with a 2xx response, else throws its problem (ApiError). */
async function send(ctx: Ctx, method: 'GET' | 'POST', path: string, body: Readable | null, length: number | null = null): Promise<IncomingMessage> {
  const url = new URL(path, `${ctx.host().url}/`);
  const headers: Record<string, string> = { authorization: `Bearer ${ctx.requireToken()}`, 'user-agent': `fcm-cli/${ctx.version}` };
  if (body) {
    headers['content-type'] = MEDIA;
    if (length !== null) headers['content-length'] = String(length);
  }
  const ca = ctx.ca();
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const opts = { method, headers, ...(ctx.io.signal ? { signal: ctx.io.signal } : {}) };
    const req = url.protocol === 'https:' ? httpsRequest(url, { ...opts, ...(ca ? { ca: trustedCas(ca.pem) } : {}) }, resolve) : httpRequest(url, opts, resolve);
    req.on('error', (e) => reject(new CliError(`Cannot reach ${ctx.host().url}: ${e.message}`)));
    if (body) {
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    } else req.end();
  });
  if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) return res;
  const raw = await text(res);
  let problem: unknown;
  try {
    problem = JSON.parse(raw);
  } catch {
    problem = undefined;
  }
  throw errorFromResponse(new Response(raw, { status: res.statusCode ?? 500, headers: { 'content-type': String(res.headers['content-type'] ?? '') } }), problem);
}

async function text(res: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > 1 << 20) throw new CliError('The server answered with more than 1 MiB where a short answer was expected.');
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts).toString('utf8');
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Counts the bytes going through; shows them on stderr (a line per second on a TTY, a line per 10% otherwise). */
class Meter extends Transform {
  bytes = 0;
  private last = 0;
  private lastPct = -1;
  private readonly started = Date.now();
  constructor(
    private readonly ctx: Ctx,
    private readonly verb: string,
    private readonly total: number | null,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    this.show(false);
    cb(null, chunk);
  }

  private show(final: boolean): void {
    if (this.ctx.json) return;
    const err = this.ctx.io.stderr;
    const now = Date.now();
    const pct = this.total ? Math.floor((this.bytes / this.total) * 100) : null;
    const rate = this.bytes / 1048576 / Math.max(0.001, (now - this.started) / 1000);
    const line = `${this.verb} ${mib(this.bytes)}${this.total ? ` of ${mib(this.total)} (${pct}%)` : ''}, ${rate.toFixed(1)} MiB/s`;
    if (err.isTTY) {
      if (final || now - this.last >= 250) {
        err.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
        this.last = now;
      }
    } else if (final || (pct !== null ? pct >= this.lastPct + 10 : now - this.last >= 5000)) {
      err.write(`${line}\n`);
      this.last = now;
      if (pct !== null) this.lastPct = pct - (pct % 10);
    }
  }

  done(): void {
    this.show(true);
  }
}
