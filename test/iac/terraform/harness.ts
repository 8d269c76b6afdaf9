/**
 * Runs the real terraform binary against a provider written with
 * provider/terraform, fully offline:
 *  - a temp dir per workspace with its own CLI config (TF_CLI_CONFIG_FILE)
 *    whose dev_overrides point the provider address at a bin/ directory, so
 *    terraform never contacts a registry and no `terraform init` is needed;
 *  - bin/terraform-provider-<name>: a shell shim exec'ing
 *    `node --import tsx <entry.ts>` (absolute paths: terraform starts the
 *    plugin with the workspace as cwd, where `tsx` would not resolve);
 *  - CHECKPOINT_DISABLE=1 so terraform does not phone home.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const TERRAFORM = process.env['FCM_TERRAFORM_BIN'] ?? '/usr/local/bin/terraform';

/** null if terraform is usable, else why not. */
export function terraformMissing(): string | null {
  try {
    accessSync(TERRAFORM, constants.X_OK);
    return null;
  } catch {
    return `terraform not found at ${TERRAFORM}`;
  }
}

export interface TfResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Timing {
  workspace: string;
  command: string;
  ms: number;
}

/** Durations of every terraform command run through a Workspace in this process. */
export const timings: Timing[] = [];

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Writes an executable shim that runs a TypeScript entry with node + tsx. */
export function writeProviderShim(binDir: string, providerName: string, entry: string, extraEnv: Record<string, string> = {}): string {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const path = join(binDir, `terraform-provider-${providerName}`);
  const envLines = Object.entries(extraEnv).map(([k, v]) => `export ${k}=${shq(v)}`);
  writeFileSync(path, ['#!/bin/sh', ...envLines, `exec ${shq(process.execPath)} --import ${shq(tsx)} ${shq(entry)} "$@"`, ''].join('\n'), {
    mode: 0o755,
  });
  return path;
}

export interface WorkspaceOptions {
  /** Provider type name, e.g. "fcmtest". */
  providerName: string;
  /** Registry namespace of the provider address (default "fcm"). */
  namespace?: string;
  /** TypeScript entry that calls serveProvider(). */
  entry: string;
  /** Label used in timings. */
  label?: string;
}

export class Workspace {
  readonly root: string;
  readonly work: string;
  readonly bin: string;
  readonly env: NodeJS.ProcessEnv;
  readonly label: string;

  constructor(opts: WorkspaceOptions) {
    this.label = opts.label ?? opts.providerName;
    this.root = mkdtempSync(join(tmpdir(), `fcm-tf-${this.label}-`));
    this.work = join(this.root, 'work');
    this.bin = join(this.root, 'bin');
    mkdirSync(this.work);
    mkdirSync(this.bin);
    writeProviderShim(this.bin, opts.providerName, opts.entry);
    const cliConfig = join(this.root, 'cli.tfrc');
    const address = `registry.terraform.io/${opts.namespace ?? 'fcm'}/${opts.providerName}`;
    writeFileSync(
      cliConfig,
      `provider_installation {\n  dev_overrides {\n    ${JSON.stringify(address)} = ${JSON.stringify(this.bin)}\n  }\n  direct {}\n}\n`,
    );
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TF_') && k !== 'CHECKPOINT_DISABLE') env[k] = v;
    Object.assign(env, {
      CHECKPOINT_DISABLE: '1',
      TF_CLI_CONFIG_FILE: cliConfig,
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      // no ~/.terraformrc, ~/.terraform.d credentials or plugin cache from the real home
      HOME: this.root,
    });
    if (process.env['FCM_TF_LOG']) {
      env['TF_LOG'] = process.env['FCM_TF_LOG'];
      env['TF_LOG_PATH'] = join(this.root, 'terraform.log');
    }
    this.env = env;
  }

  path(...p: string[]): string {
    return join(this.root, ...p);
  }

  /** Replaces main.tf in the working directory. */
  writeConfig(hcl: string): void {
    writeFileSync(join(this.work, 'main.tf'), hcl);
  }

  /** Runs terraform with argv (no shell); never throws on a non-zero exit. */
  tf(args: string[], opts: { timeoutMs?: number } = {}): Promise<TfResult> {
    return this.tfStart(args, opts).done;
  }

  /** Like tf(), but also hands out the child process (e.g. to interrupt it). */
  tfStart(args: string[], opts: { timeoutMs?: number } = {}): { child: ChildProcess; done: Promise<TfResult> } {
    const t0 = performance.now();
    let child!: ChildProcess;
    const done = new Promise<TfResult>((resolve, reject) => {
      child = execFile(
        TERRAFORM,
        args,
        { cwd: this.work, env: this.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => {
          const ms = Math.round(performance.now() - t0);
          timings.push({ workspace: this.label, command: args.filter((a) => !a.startsWith('-')).join(' ') || args.join(' '), ms });
          if (err && typeof err.code !== 'number') {
            if (err.signal) return resolve({ code: 128, stdout, stderr: `${stderr}\nkilled by ${err.signal}`, ms });
            return reject(err);
          }
          resolve({ code: err ? (err.code as number) : 0, stdout, stderr, ms });
        },
      );
    });
    return { child, done };
  }

  cleanup(): void {
    if (process.env['FCM_KEEP_TF_DIRS']) return;
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Parses `terraform ... -json` output (one JSON object per line). */
export function jsonLines(stdout: string): Record<string, any>[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

export function formatTimings(list: Timing[] = timings): string {
  const byCmd = new Map<string, number[]>();
  for (const t of list) byCmd.set(t.command, [...(byCmd.get(t.command) ?? []), t.ms]);
  return [...byCmd.entries()]
    .map(([cmd, ms]) => `${cmd.padEnd(28)} n=${ms.length} min=${Math.min(...ms)}ms max=${Math.max(...ms)}ms avg=${Math.round(ms.reduce((a, b) => a + b, 0) / ms.length)}ms`)
    .join('\n');
}
