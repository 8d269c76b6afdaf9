/**
 * An fcm VM with CDK for Terraform, using the bindings committed under
 * provider/cdktf (generated offline from the provider schema; no `cdktf get`).
 *
 *   npx tsx examples/cdktf/main.ts            # synthesizes into examples/cdktf/cdktf.out
 *   cd examples/cdktf/cdktf.out/stacks/fcm-example && terraform apply   # with the dev_overrides of examples/terraform/README.md
 */
import { App, LocalBackend, TerraformOutput, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { dataFcmVm, provider, vm } from '../../provider/cdktf/fcm/index.js';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export interface FcmStackOptions {
  name?: string;
  memoryMib?: number;
  swapMib?: number;
}

export class FcmStack extends TerraformStack {
  readonly vm: vm.Vm;

  constructor(scope: Construct, id: string, opts: FcmStackOptions = {}) {
    super(scope, id);
    // State next to the synthesized stack (the default would be an absolute path to where synth ran).
    new LocalBackend(this, { path: 'terraform.tfstate' });
    // host and token: $FCM_HOST / $FCM_TOKEN (or ~/.fcm-token) unless set here.
    new provider.FcmProvider(this, 'fcm', {});
    this.vm = new vm.Vm(this, 'web', {
      name: opts.name ?? 'cdktf-web',
      memoryMib: opts.memoryMib ?? 1024,
      swapMib: opts.swapMib ?? 512,
    });
    const lookedUp = new dataFcmVm.DataFcmVm(this, 'web-lookup', { name: this.vm.name });
    new TerraformOutput(this, 'url', { value: this.vm.url });
    new TerraformOutput(this, 'git_url', { value: this.vm.gitUrl });
    new TerraformOutput(this, 'ip', { value: lookedUp.ip });
  }
}

/** Synthesizes the example into `outdir`; returns the stack's Terraform JSON path. */
export function synth(outdir: string, opts: FcmStackOptions = {}): string {
  const app = new App({ outdir });
  new FcmStack(app, 'fcm-example', opts);
  app.synth();
  return join(outdir, 'stacks', 'fcm-example', 'cdk.tf.json');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(synth(join(fileURLToPath(new URL('.', import.meta.url)), 'cdktf.out')));
}
