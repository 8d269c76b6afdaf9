/**
 * `fcm terraform install`: puts the single-file Terraform provider that
 * ships with fcm into a provider mirror, in the layout Terraform and
 * OpenTofu read (the "unpacked" filesystem_mirror layout):
 *   <mirror>/<hostname>/fcm/fcm/<version>/<os>_<arch>/terraform-provider-fcm_v<version>
 * for hostname registry.terraform.io (Terraform's address fcm/fcm) and
 * registry.opentofu.org (OpenTofu's). The default mirror,
 * ~/.terraform.d/plugins, is one both look in without any configuration;
 * `terraform init` then records the provider's hash in .terraform.lock.hcl.
 * The provider is a Node.js script (node must be on Terraform's PATH).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from './command.js';
import type { Ctx } from './context.js';
import type { Parsed } from './parse.js';
import { CliError, EXIT } from './render-error.js';

export const PROVIDER_FILE = 'terraform-provider-fcm.cjs';
export const REGISTRY_HOSTS = ['registry.terraform.io', 'registry.opentofu.org'] as const;

/** Terraform's name for this machine's platform (linux_amd64, darwin_arm64…). */
export function terraformPlatform(platform: string = process.platform, arch: string = process.arch): string {
  const a = arch === 'x64' ? 'amd64' : arch === 'ia32' ? '386' : arch;
  return `${platform}_${a}`;
}

/** The provider file: beside the standalone CLI (its package), or in a repository's build (dist/pkg/terraform). */
export function providerSource(selfUrl: string = import.meta.url): string | null {
  const here = dirname(fileURLToPath(selfUrl));
  for (const c of [join(here, PROVIDER_FILE), join(here, '..', '..', 'pkg', 'terraform', PROVIDER_FILE), join(here, '..', '..', 'dist', 'pkg', 'terraform', PROVIDER_FILE)]) {
    if (existsSync(c)) return c;
  }
  return null;
}

export function terraformCommands(): Command[] {
  return [
    {
      name: 'terraform install',
      group: 'system',
      summary: 'Install the fcm Terraform/OpenTofu provider into a local provider mirror',
      description:
        'Copies the provider that ships with fcm into <mirror>/<registry>/fcm/fcm/<version>/<os>_<arch>/, for\n' +
        "Terraform (registry.terraform.io/fcm/fcm) and OpenTofu (registry.opentofu.org/fcm/fcm). The default mirror,\n" +
        '~/.terraform.d/plugins, needs no configuration; another one goes in a provider_installation\n' +
        '{ filesystem_mirror { path = "<mirror>" } } block. terraform init then writes the lock file.',
      args: [],
      flags: [
        { long: 'mirror', type: 'string', valueName: 'dir', description: 'Mirror directory (default: ~/.terraform.d/plugins)' },
        { long: 'platform', type: 'string', valueName: 'os_arch', description: "Platform directory (default: this machine's, e.g. linux_amd64)" },
      ],
      examples: ['fcm terraform install', 'fcm terraform install --mirror ~/tf-mirror'],
      run: install,
    },
  ];
}

async function install(ctx: Ctx, parsed: Parsed): Promise<number> {
  const src = providerSource();
  if (!src) throw new CliError('This fcm has no Terraform provider with it', { hint: 'use the fcm-cli package (npm run build makes it), or run npm run build in the repository' });
  const given = typeof parsed.flags.mirror === 'string' ? parsed.flags.mirror : join(ctx.io.home, '.terraform.d', 'plugins');
  const mirror = resolvePath(ctx.io.cwd, given.startsWith('~/') ? join(ctx.io.home, given.slice(2)) : given);
  const platform = typeof parsed.flags.platform === 'string' ? parsed.flags.platform : terraformPlatform();
  if (!/^[a-z0-9]+_[a-z0-9]+$/.test(platform)) throw new CliError(`"${platform}" is not a Terraform platform (os_arch, e.g. linux_amd64)`);
  const version = ctx.version;
  const installed: string[] = [];
  for (const host of REGISTRY_HOSTS) {
    const dir = join(mirror, host, 'fcm', 'fcm', version, platform);
    mkdirSync(dir, { recursive: true });
    const to = join(dir, `terraform-provider-fcm_v${version}`);
    copyFileSync(src, to);
    chmodSync(to, 0o755);
    // Node reads the nearest package.json for a file's module type; the provider is CommonJS whatever is above.
    writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
    installed.push(to);
  }
  // The provider is a script: say so if there is no node for Terraform to run it with.
  const shebang = readFileSync(src, 'utf8').split('\n', 1)[0];
  if (ctx.json) {
    ctx.print(`${JSON.stringify({ mirror, version, platform, files: installed }, null, 2)}\n`);
    return EXIT.ok;
  }
  ctx.print(`Installed terraform-provider-fcm ${version} (${platform}) into ${mirror}\n`);
  ctx.note(
    [
      `  ${installed.join('\n  ')}`,
      `In your configuration: terraform { required_providers { fcm = { source = "fcm/fcm", version = "${version}" } } }`,
      parsed.flags.mirror === undefined
        ? 'Terraform and OpenTofu find it there without further configuration.'
        : `Tell Terraform where the mirror is (~/.terraformrc or TF_CLI_CONFIG_FILE):\n  provider_installation {\n    filesystem_mirror {\n      path    = "${mirror}"\n      include = ["registry.terraform.io/fcm/fcm", "registry.opentofu.org/fcm/fcm"]\n    }\n    direct { exclude = ["registry.terraform.io/fcm/fcm", "registry.opentofu.org/fcm/fcm"] }\n  }`,
      `The provider runs with ${shebang?.replace(/^#!/, '') ?? 'node'}: Node.js must be on the PATH Terraform runs with.`,
    ].join('\n'),
  );
  return EXIT.ok;
}
