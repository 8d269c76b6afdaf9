/**
 * A Pulumi program with one fcm VM. Connection: `pulumi config set fcm:host
 * http://localhost:7777` and `pulumi config set --secret fcm:token ...`
 * (or FCM_HOST / FCM_TOKEN in the environment).
 */
import * as pulumi from '@pulumi/pulumi';
import * as fcm from '../../provider/pulumi/index.js';

const config = new pulumi.Config();

const web = new fcm.Vm('web', {
  // name defaults to the resource name ("web"); it is the VM's DNS label and URL.
  memoryMib: config.getNumber('memoryMib') ?? 1024,
  swapMib: config.getNumber('swapMib') ?? 512,
  domains: config.getObject<string[]>('domains') ?? [],
  // running: false would keep it stopped; a VM stopped outside Pulumi shows up as a change on refresh.
});

export const name = web.name;
export const url = web.url;
export const ip = web.ip;
export const gitUrl = web.gitUrl;
export const state = web.state;
