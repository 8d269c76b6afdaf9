/**
 * `npm run build` (after tsc): what a laptop installs, built from this tree
 * into dist/pkg/ with the version in package.json:
 *
 *   fcm-cli-<v>.tgz        the `fcm` CLI as one esbuild bundle (no dependencies: `npm install -g`
 *                          works offline on a machine with only Node), plus the Terraform provider
 *                          for `fcm terraform install`
 *   terraform/terraform-provider-fcm.cjs
 *                          the Terraform provider as one CommonJS file (the .proto files inside)
 *   terraform-mirror/      that file laid out as a filesystem_mirror for Terraform and OpenTofu
 *   fcm-pulumi-<v>.tgz     fcm.Vm for Pulumi programs: one ES module, @pulumi/pulumi as a peer
 *                          (a program and its dynamic providers must share one copy), Ajv bundled
 *                          as a dependency inside the tarball (the serialized provider loads it at
 *                          run time), type declarations
 *
 * Run alone: npx tsx packaging/build-packages.ts
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'pkg');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string; engines: { node: string } };
const VERSION = pkg.version;
const require = createRequire(import.meta.url);
/** Platforms the provider mirror gets a directory for: the same Node script runs on each. */
const TF_PLATFORMS = ['linux_amd64', 'linux_arm64', 'darwin_amd64', 'darwin_arm64'];
const TF_HOSTS = ['registry.terraform.io', 'registry.opentofu.org'];
/**
 * Node picks a file's module type from the nearest package.json: an extension-less provider under a
 * directory whose package.json says "type": "module" would be refused. This one beside it says CommonJS.
 * (api/cli/terraform-install.ts writes the same.)
 */
const COMMONJS_MARKER = '{ "type": "commonjs" }\n';

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

// ---- the Terraform provider: one CommonJS file (Terraform runs it by an extension-less name) ----
const protoDir = join(ROOT, 'provider', 'terraform', 'proto');
const protobuf = require(require.resolve('protobufjs', { paths: [dirname(require.resolve('@grpc/proto-loader'))] })) as {
  Root: new () => { loadSync(path: string, o: { keepCase: boolean }): { toJSON(): object } };
};
const protos: Record<string, object> = {};
for (const f of ['tfplugin6.proto', 'go-plugin.proto', 'health.proto']) {
  // keepCase as PROTO_LOADER_OPTIONS (plugin-server.ts): field names are fixed when the .proto is parsed.
  protos[f] = new protobuf.Root().loadSync(join(protoDir, f), { keepCase: true }).toJSON();
}
const tfDir = join(OUT, 'terraform');
const tfFile = join(tfDir, 'terraform-provider-fcm.cjs');
await build({
  entryPoints: [join(ROOT, 'packaging', 'terraform-entry.cjs')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: tfFile,
  banner: { js: '#!/usr/bin/env node\nvar __fcm_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  define: { __FCM_TF_PROTOS__: JSON.stringify(protos), 'import.meta.url': '__fcm_import_meta_url' },
  logLevel: 'warning',
});
chmodSync(tfFile, 0o755);
for (const host of TF_HOSTS) {
  for (const platform of TF_PLATFORMS) {
    const dir = join(OUT, 'terraform-mirror', host, 'fcm', 'fcm', VERSION, platform);
    mkdirSync(dir, { recursive: true });
    copyFileSync(tfFile, join(dir, `terraform-provider-fcm_v${VERSION}`));
    chmodSync(join(dir, `terraform-provider-fcm_v${VERSION}`), 0o755);
    writeFileSync(join(dir, 'package.json'), COMMONJS_MARKER);
  }
}

// ---- the CLI: one ES module, every dependency inside ----
const cliDir = join(OUT, 'cli');
await build({
  entryPoints: [join(ROOT, 'api', 'cli', 'main.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: join(cliDir, 'fcm.mjs'),
  // CommonJS dependencies (ws) call require() for Node's modules: give the bundle one.
  banner: { js: 'import { createRequire as __fcmCreateRequire } from "node:module";\nconst require = __fcmCreateRequire(import.meta.url);' },
  define: { __FCM_VERSION__: JSON.stringify(VERSION) },
  // ws's optional native speed-ups: it works without them.
  external: ['bufferutil', 'utf-8-validate'],
  logLevel: 'warning',
});
chmodSync(join(cliDir, 'fcm.mjs'), 0o755);
copyFileSync(tfFile, join(cliDir, 'terraform-provider-fcm.cjs'));
chmodSync(join(cliDir, 'terraform-provider-fcm.cjs'), 0o755);
writeFileSync(
  join(cliDir, 'package.json'),
  `${JSON.stringify(
    {
      name: 'fcm-cli',
      version: VERSION,
      description: 'The fcm command line: apps in microVMs on your own server (client only; the daemon runs on the server)',
      license: pkg.license,
      type: 'module',
      bin: { fcm: 'fcm.mjs' },
      files: ['fcm.mjs', 'terraform-provider-fcm.cjs', 'README.md'],
      // AbortSignal.any (console reconnects) is Node >= 20.3.
      engines: { node: '>=20.3.0' },
    },
    null,
    2,
  )}\n`,
);
writeFileSync(
  join(cliDir, 'README.md'),
  `# fcm-cli ${VERSION}\n\nThe \`fcm\` client: \`npm install -g fcm-cli-${VERSION}.tgz\`, then\n\n` +
    '```sh\nfcm login --host https://fcm.<server ip with dashes>.sslip.io   # --with-token < token, --ca-file ca.pem\nfcm create\nfcm git-remote && git push fcm main\n```\n\n' +
    '`fcm terraform install` puts the Terraform/OpenTofu provider into ~/.terraform.d/plugins. `fcm --help` for the rest.\n',
);

// ---- Pulumi: fcm.Vm as a package ----
const puDir = join(OUT, 'pulumi');
await build({
  entryPoints: [join(ROOT, 'provider', 'pulumi', 'index.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: join(puDir, 'index.mjs'),
  external: ['@pulumi/pulumi', 'ajv', 'ajv/*'],
  logLevel: 'warning',
});
// Modules copied into the tarball (bundleDependencies): Ajv for the serialized provider, openapi-fetch for the types.
const bundled = ['ajv', 'fast-deep-equal', 'fast-uri', 'json-schema-traverse', 'require-from-string', 'openapi-fetch', 'openapi-typescript-helpers'];
for (const m of bundled) cpSync(join(ROOT, 'node_modules', m), join(puDir, 'node_modules', m), { recursive: true, dereference: true });
const versions = Object.fromEntries(bundled.map((m) => [m, (JSON.parse(readFileSync(join(ROOT, 'node_modules', m, 'package.json'), 'utf8')) as { version: string }).version]));
const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const tsconfig = join(OUT, 'tsconfig.pulumi-types.json');
writeFileSync(
  tsconfig,
  JSON.stringify({
    extends: join(ROOT, 'tsconfig.json'),
    compilerOptions: { declaration: true, emitDeclarationOnly: true, noEmit: false, sourceMap: false, outDir: join(puDir, 'types'), rootDir: ROOT },
    files: [join(ROOT, 'provider', 'pulumi', 'index.ts')],
    include: [],
  }),
);
execFileSync(process.execPath, [tsc, '-p', tsconfig], { stdio: 'inherit' });
rmSync(tsconfig);
writeFileSync(
  join(puDir, 'package.json'),
  `${JSON.stringify(
    {
      name: 'fcm-pulumi',
      version: VERSION,
      description: 'fcm.Vm for Pulumi: a microVM on your fcm server (dynamic provider)',
      license: pkg.license,
      type: 'module',
      main: 'index.mjs',
      types: 'types/provider/pulumi/index.d.ts',
      exports: { '.': { types: './types/provider/pulumi/index.d.ts', default: './index.mjs' } },
      files: ['index.mjs', 'types', 'README.md'],
      peerDependencies: { '@pulumi/pulumi': '^3.100.0' },
      dependencies: versions,
      bundleDependencies: bundled,
      engines: { node: pkg.engines.node },
    },
    null,
    2,
  )}\n`,
);
writeFileSync(
  join(puDir, 'README.md'),
  `# fcm-pulumi ${VERSION}\n\n\`npm install @pulumi/pulumi fcm-pulumi-${VERSION}.tgz\`, then\n\n` +
    "```ts\nimport * as fcm from 'fcm-pulumi';\nconst web = new fcm.Vm('web', { memoryMib: 1024 });\nexport const url = web.url;\n```\n\n" +
    'Connection: `fcm:host`, `fcm:token` (secret), `fcm:caFile` in the stack config, else FCM_HOST / FCM_TOKEN / FCM_CA_FILE, else what `fcm login` stored.\n',
);

// ---- tarballs ----
for (const dir of [cliDir, puDir]) {
  execFileSync('npm', ['pack', '--offline', '--ignore-scripts', '--silent', '--pack-destination', OUT, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
}
console.log(`packages (${VERSION}) in ${OUT}: ${readdirSync(OUT).filter((f) => f.endsWith('.tgz')).join(', ')}`);
