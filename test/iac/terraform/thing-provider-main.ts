/** Executable entry of the test provider (started by terraform through the terraform-provider-fcmtest shim). */
import { serveProvider } from '../../../provider/terraform/provider.js';
import { thingProviderSpec } from './thing-provider.js';

await serveProvider(thingProviderSpec());
