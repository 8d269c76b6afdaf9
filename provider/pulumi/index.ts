/**
 * fcm for Pulumi: `new fcm.Vm("web", { memoryMib: 1024 })`, a dynamic
 * provider over provider/vm-resource.ts.
 *
 * Connection: stack config `fcm:host`, `fcm:token` (set it with
 * `pulumi config set --secret fcm:token ...`) and `fcm:caFile`, else
 * FCM_HOST / FCM_TOKEN / FCM_CA_FILE, else what `fcm login` stored (its
 * default host, that host's token and CA) — read in the provider host
 * (ResourceProvider.configure receives the whole stack config).
 *
 * How Pulumi runs this: the provider object below is serialized (its code
 * and everything it captures, see the contract in vm-resource.ts) into the
 * resource's `__provider` input; Pulumi's dynamic-provider host re-creates
 * it to serve Check/Diff/Create/Read/Update/Delete. So the provider keeps its
 * state in a captured holder object, never in module-level variables.
 *
 * Import: the `import` resource option does not work for dynamic providers
 * (the engine's Read carries no `__provider`, pulumi/pulumi#16175). Declare
 * the VM with its existing name instead: create adopts it (see
 * VmResource.create), so the next `pulumi up` takes it over without
 * recreating it.
 */
import * as pulumi from '@pulumi/pulumi';
import {
  compileVmValidator,
  connect,
  diffVm,
  VM_ARG_KEYS,
  VM_DEFAULTS,
  VM_INPUTS,
  VM_OUTPUTS,
  VmResource,
  VmResourceError,
  withDefaults,
  type ConnectionSettings,
  type VmArgs,
  type VmOutputs,
  type VmValidator,
} from '../vm-resource.js';

/** Pulumi's wire value for "not known yet" (runtime/rpc.ts unknownValue), as dynamic providers see it in previews. */
const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

type Wire = Record<string, unknown>;

/** The dynamic provider (exported for tests that serialize it and drive Pulumi's host). */
export function makeVmProvider(): pulumi.dynamic.ResourceProvider<Wire, VmOutputs> {
  const holder: { settings: ConnectionSettings; vms: VmResource | undefined; validator: VmValidator | undefined } = {
    settings: {},
    vms: undefined,
    validator: undefined,
  };
  const vms = (): VmResource => {
    if (!holder.vms) holder.vms = new VmResource(connect(holder.settings, process.env, 'pulumi-fcm'));
    return holder.vms;
  };
  const unknownKeys = (w: Wire): string[] => Object.keys(w).filter((k) => w[k] === UNKNOWN || (Array.isArray(w[k]) && (w[k] as unknown[]).includes(UNKNOWN)));
  const argsOf = (w: Wire): VmArgs => withDefaults(Object.fromEntries(VM_ARG_KEYS.map((k) => [k, w[k]])) as unknown as VmArgs);
  /** A failure after the VM exists: Pulumi records `properties` under `id` (ErrorResourceInitFailed) instead of forgetting the VM. */
  const rethrow = (e: unknown): never => {
    // The engine shows only the message: the detail (e.g. which quota, its limit and usage) goes with it.
    const message = e instanceof VmResourceError && e.detail ? `${e.message}\n${e.detail} (code ${e.code})` : e instanceof Error ? e.message : String(e);
    if (e instanceof VmResourceError && e.partial) {
      throw Object.assign(new Error(message), { id: e.partial.name, properties: e.partial, reasons: [message] });
    }
    if (e instanceof VmResourceError && e.detail) throw Object.assign(new Error(message), { code: e.code });
    throw e;
  };

  return {
    async configure(req) {
      holder.settings = { host: req.config.get('fcm:host') ?? null, token: req.config.get('fcm:token') ?? null, caFile: req.config.get('fcm:caFile') ?? null };
      holder.vms = undefined;
    },

    async check(_olds, news) {
      const unknown = unknownKeys(news);
      const known: Record<string, unknown> = {};
      for (const k of VM_ARG_KEYS) if (news[k] !== undefined && news[k] !== null && !unknown.includes(k)) known[k] = news[k];
      if (!holder.validator) holder.validator = compileVmValidator();
      const failures = holder.validator(known).map((i) => ({
        property: i.attribute,
        reason: `${i.attribute}${i.index !== undefined ? `[${i.index}]` : ''} ${i.message}${i.attribute === 'name' ? ' (without a name input, the VM is named after the resource)' : ''}`,
      }));
      const inputs: Wire = { ...news };
      for (const k of VM_ARG_KEYS) {
        if (k !== 'name' && (news[k] === undefined || news[k] === null)) inputs[k] = VM_DEFAULTS[k];
      }
      return { inputs, failures };
    },

    async diff(_id, olds, news) {
      const d = diffVm(olds, news as Partial<VmArgs>, unknownKeys(news));
      return {
        changes: d.changed.length > 0,
        replaces: d.replace,
        // Same name: the old VM must go first (names are unique, and create would otherwise adopt the VM it replaces).
        deleteBeforeReplace: d.replace.length > 0 && !d.changed.includes('name'),
      };
    },

    async create(inputs) {
      try {
        const outs = await vms().create(argsOf(inputs));
        return { id: outs.name, outs };
      } catch (e) {
        return rethrow(e);
      }
    },

    async read(id, props) {
      const got = await vms().read(id, {
        ...(typeof props?.vmId === 'string' ? { vmId: props.vmId } : {}),
        ...(typeof props?.waitTimeoutSeconds === 'number' ? { waitTimeoutSeconds: props.waitTimeoutSeconds } : {}),
        ...(typeof props?.sleepAfter === 'string' ? { sleepAfter: props.sleepAfter } : {}),
      });
      // No id: the VM is gone (Pulumi drops it from the state on refresh).
      return got ? { id: got.name, props: got } : {};
    },

    async update(id, olds, news) {
      try {
        return { outs: await vms().update({ name: id, ...(typeof olds.vmId === 'string' ? { vmId: olds.vmId } : {}) }, argsOf(news)) };
      } catch (e) {
        return rethrow(e);
      }
    },

    async delete(id, props) {
      await vms().delete({ name: id, ...(typeof props?.vmId === 'string' ? { vmId: props.vmId } : {}) });
    },
  };
}

/** One provider object for every Vm: Pulumi serializes it once (cached per object). */
export const vmProvider = makeVmProvider();

export interface VmArgsInput {
  /** VM name (DNS label). Default: the resource name. Changing it replaces the VM. */
  name?: pulumi.Input<string>;
  vcpus?: pulumi.Input<number>;
  memoryMib?: pulumi.Input<number>;
  /** Changing it replaces the VM: disks are not resized in place. */
  diskMib?: pulumi.Input<number>;
  swapMib?: pulumi.Input<number>;
  port?: pulumi.Input<number>;
  image?: pulumi.Input<string>;
  domains?: pulumi.Input<pulumi.Input<string>[]>;
  /** Idle time after which the VM sleeps (`15m`, `2h`, at least 10 s) or `off` (default); the next request wakes it. In place, no restart. */
  sleepAfter?: pulumi.Input<string>;
  /** Desired power state (default true): start/stop reconcile it. */
  running?: pulumi.Input<boolean>;
  /** How long create/update wait for the VM to be running (default 300). */
  waitTimeoutSeconds?: pulumi.Input<number>;
}

/** An fcm microVM. Inputs as in the API (createVm/updateVm); see VM_INPUTS for what replaces and what updates in place. */
export class Vm extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  declare readonly vcpus: pulumi.Output<number>;
  declare readonly memoryMib: pulumi.Output<number>;
  declare readonly diskMib: pulumi.Output<number>;
  declare readonly swapMib: pulumi.Output<number>;
  declare readonly port: pulumi.Output<number>;
  declare readonly image: pulumi.Output<string>;
  declare readonly domains: pulumi.Output<string[]>;
  declare readonly sleepAfter: pulumi.Output<string>;
  declare readonly running: pulumi.Output<boolean>;
  declare readonly waitTimeoutSeconds: pulumi.Output<number>;
  declare readonly vmId: pulumi.Output<string>;
  declare readonly state: pulumi.Output<string>;
  declare readonly ip: pulumi.Output<string>;
  declare readonly mac: pulumi.Output<string>;
  declare readonly url: pulumi.Output<string>;
  declare readonly gitUrl: pulumi.Output<string>;
  declare readonly gitHttpUrl: pulumi.Output<string>;
  declare readonly hypervisor: pulumi.Output<string>;
  declare readonly createdAt: pulumi.Output<string>;

  constructor(name: string, args: VmArgsInput = {}, opts?: pulumi.CustomResourceOptions) {
    const props: Record<string, unknown> = {};
    for (const k of VM_ARG_KEYS) props[k] = args[k];
    props['name'] = args.name ?? name;
    // Outputs are declared by passing them as undefined.
    for (const k of Object.keys(VM_OUTPUTS)) props[k] = undefined;
    super(vmProvider, name, props, opts, 'fcm', 'Vm');
  }
}

export { VM_INPUTS };
