/**
 * `npm run gen`: regenerates everything derived from openapi.yaml.
 *   api/spec.gen.ts          the spec as data (served by the daemon, used for validation)
 *   api/openapi.gen.ts       TypeScript types (openapi-typescript)
 *   api/cli/commands.gen.ts  the CLI command table (x-cli)
 *   api/patterns.gen.ts      the spec's named string rules (VmName, EnvKey…) for code
 *                            that checks names outside request validation (CLI, git helpers)
 * `npm run gen -- --check` fails when a committed file differs (drift test).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { parse } from 'yaml';
import { buildCommandTable } from './cli-table.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HEADER = '// GENERATED from openapi.yaml by `npm run gen` — do not edit.\n';

export async function generate(): Promise<Record<string, string>> {
  const text = readFileSync(join(root, 'openapi.yaml'), 'utf8');
  const spec = parse(text) as Record<string, unknown>;
  const types = astToString(await openapiTS(spec as never, { alphabetize: false, exportType: true }));
  const table = buildCommandTable(spec);
  return {
    'api/spec.gen.ts': `${HEADER}/* eslint-disable */\nexport const spec: Record<string, any> = ${JSON.stringify(spec, null, 2)};\n`,
    'api/openapi.gen.ts': `${HEADER}${types}`,
    'api/cli/commands.gen.ts': `${HEADER}import type { CommandSpec } from '../gen/cli-table.js';\n\nexport const commandTable: CommandSpec[] = ${JSON.stringify(table, null, 2)};\n`,
    'api/patterns.gen.ts': patternsModule(spec),
  };
}

/**
 * Every `components.schemas` entry that is a string with a `pattern`, as a
 * rule code can test a value against — one definition, the spec's, for the
 * CLI, the daemon and the git helpers (which check names before any request).
 */
function patternsModule(spec: Record<string, unknown>): string {
  const schemas = ((spec.components as Record<string, unknown> | undefined)?.schemas ?? {}) as Record<string, Record<string, unknown>>;
  const rules = Object.entries(schemas)
    .filter(([, s]) => s.type === 'string' && typeof s.pattern === 'string')
    .map(([name, s]) => {
      const fields = [`pattern: /${String(s.pattern).replace(/\//g, '\\/')}/u`, `source: ${JSON.stringify(s.pattern)}`];
      if (typeof s.minLength === 'number') fields.push(`minLength: ${s.minLength}`);
      if (typeof s.maxLength === 'number') fields.push(`maxLength: ${s.maxLength}`);
      return `/** components.schemas.${name} */\nexport const ${name}: StringRule = { ${fields.join(', ')} };\n`;
    });
  return `${HEADER}
export interface StringRule {
  readonly pattern: RegExp;
  /** The pattern as written in openapi.yaml. */
  readonly source: string;
  readonly minLength?: number;
  readonly maxLength?: number;
}

/** Whether \`value\` satisfies the rule (pattern and lengths, as JSON Schema counts them: code points). */
export function matches(rule: StringRule, value: string): boolean {
  const n = [...value].length;
  return rule.pattern.test(value) && n >= (rule.minLength ?? 0) && n <= (rule.maxLength ?? Infinity);
}

${rules.join('\n')}`;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const files = await generate();
  let drift = 0;
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      /* new file */
    }
    if (current === content) continue;
    if (check) {
      console.error(`${rel} is out of date with openapi.yaml — run: npm run gen`);
      drift++;
    } else {
      writeFileSync(path, content);
      console.log(`wrote ${rel}`);
    }
  }
  if (drift) process.exit(1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
