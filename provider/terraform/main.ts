/**
 * Executable entry of terraform-provider-fcm (Terraform starts it through
 * provider/terraform/bin/terraform-provider-fcm; see examples/terraform/README.md).
 */
import { fcmProviderSpec } from './fcm.js';
import { serveProvider } from './provider.js';

// No top-level await: the single-file build (packaging/build-packages.ts) is CommonJS, so it runs
// under the extension-less name Terraform requires (terraform-provider-fcm_v<version>).
serveProvider(fcmProviderSpec()).catch((e: unknown) => {
  process.stderr.write(`terraform-provider-fcm: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(1);
});
