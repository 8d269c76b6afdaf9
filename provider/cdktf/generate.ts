/**
 * cdktf bindings for terraform-provider-fcm, generated offline:
 *   schema.json  = providerSchemaJsonText(spec): byte for byte what
 *                  `terraform providers schema -json` prints for the provider;
 *   fcm/**       = @cdktf/provider-generator's TypeScript bindings for that
 *                  schema (what `cdktf get` would write), post-processed for
 *                  this repo's NodeNext ESM + noImplicitOverride settings.
 *
 *   npx tsx provider/cdktf/generate.ts          rewrite the files
 *   npx tsx provider/cdktf/generate.ts --check  exit 1 if they drifted (also a test)
 */
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fcmProviderSpec } from '../terraform/fcm.js';
import { providerSchemaJson, providerSchemaJsonText } from '../terraform/provider.js';

export const CDKTF_DIR = dirname(fileURLToPath(import.meta.url));
/** Files this generator owns, relative to CDKTF_DIR. */
export const GENERATED_ROOTS = ['schema.json', 'fcm'];

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? listFiles(p, base) : [relative(base, p)];
  });
}

/**
 * The generator's output is plain `cdktf get` TypeScript: extensionless
 * relative imports (invalid in NodeNext ESM) and base-class overrides
 * without `override`. These rewrites are the whole difference.
 */
export function postProcess(path: string, text: string): string {
  let out = text.replace(/from '\.\/([a-z0-9-]+)';/g, "from './$1/index.js';");
  out = out.replace(/^( {2}protected )(synthesizeAttributes|synthesizeHclAttributes)\(/gm, '$1override $2(');
  if (path === join('fcm', 'provider', 'index.ts')) out = out.replace(/^( {2}public )(get|set) alias\(/gm, '$1override $2 alias(');
  return out;
}

/** Generates every file in memory: relative path → content. */
export async function generateCdktf(): Promise<Map<string, string>> {
  const spec = fcmProviderSpec({});
  const files = new Map<string, string>([['schema.json', providerSchemaJsonText(spec)]]);
  // @cdktf/commons (loaded by the generator) runs `terraform version` when it
  // is loaded and reports errors to HashiCorp's checkpoint service: disable
  // both; the generator needs neither.
  process.env['CHECKPOINT_DISABLE'] = '1';
  process.env['TERRAFORM_BINARY_NAME'] ??= 'true';
  const require = createRequire(import.meta.url);
  // The provider generator itself, not the package index: that also loads
  // the jsii toolchain (for other languages), which is not installed.
  const { CodeMaker } = require('codemaker') as { CodeMaker: new () => { save(dir: string): Promise<unknown> } };
  const { TerraformProviderGenerator } = require('@cdktf/provider-generator/lib/get/generator/provider-generator') as {
    TerraformProviderGenerator: new (code: unknown, schema: unknown) => { generateAll(): void };
  };
  const code = new CodeMaker();
  new TerraformProviderGenerator(code, providerSchemaJson(spec)).generateAll();
  const tmp = mkdtempSync(join(tmpdir(), 'fcm-cdktf-'));
  try {
    await code.save(tmp);
    const root = join(tmp, 'providers', 'fcm');
    for (const f of listFiles(root).sort()) {
      // lazy-index.ts is CommonJS for `cdktf get`'s jsii packaging; in this ESM tree it would only mislead.
      if (f === 'lazy-index.ts') continue;
      const rel = join('fcm', f);
      files.set(rel, postProcess(rel, readFileSync(join(root, f), 'utf8')));
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return files;
}

/** Files on disk that differ from, are missing from, or are not in `files`. */
export function drift(files: Map<string, string>, dir = CDKTF_DIR): string[] {
  const onDisk = GENERATED_ROOTS.flatMap((r) => {
    try {
      return statSync(join(dir, r)).isDirectory() ? listFiles(join(dir, r)).map((f) => join(r, f)) : [r];
    } catch {
      return [];
    }
  });
  const out: string[] = [];
  for (const [rel, text] of files) {
    let cur: string | null = null;
    try {
      cur = readFileSync(join(dir, rel), 'utf8');
    } catch {
      /* missing */
    }
    if (cur === null) out.push(`missing: ${rel}`);
    else if (cur !== text) out.push(`differs: ${rel}`);
  }
  for (const rel of onDisk) if (!files.has(rel)) out.push(`not generated: ${rel}`);
  return out;
}

export function writeCdktf(files: Map<string, string>, dir = CDKTF_DIR): void {
  rmSync(join(dir, 'fcm'), { recursive: true, force: true });
  for (const [rel, text] of files) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await generateCdktf();
  if (process.argv.includes('--check')) {
    const d = drift(files);
    if (d.length) {
      console.error(`provider/cdktf is out of date (run: npx tsx provider/cdktf/generate.ts):\n  ${d.join('\n  ')}`);
      process.exit(1);
    }
    console.log('provider/cdktf is up to date');
  } else {
    writeCdktf(files);
    console.log(`wrote ${files.size} files to ${relative(process.cwd(), CDKTF_DIR) || '.'}`);
  }
}
