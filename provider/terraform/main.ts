/**
 * Executable entry of terraform-provider-fcm (Terraform starts it through
 * provider/terraform/bin/terraform-provider-fcm; see examples/terraform/README.md).
 */
import { fcmProviderSpec } from './fcm.js';
import { serveProvider } from './provider.js';

await serveProvider(fcmProviderSpec());
