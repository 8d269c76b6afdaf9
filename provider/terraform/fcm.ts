/**
 * terraform-provider-fcm: the `fcm_vm` resource and data source as a
 * ProviderSpec for the generic tfplugin6 layer (./provider.ts). All VM logic
 * is provider/vm-resource.ts; this file maps names (memoryMib ↔ memory_mib,
 * vmId ↔ id), Terraform's unknown values and errors (VmResourceError →
 * ProviderError pointing at the attribute).
 *
 *   provider "fcm" { host = "http://localhost:7777"  token = var.fcm_token }   # or FCM_HOST / FCM_TOKEN
 *   resource "fcm_vm" "web" { name = "web"  memory_mib = 512 }
 *   data "fcm_vm" "web" { name = "web" }
 *   terraform import fcm_vm.web web        # import by VM name
 */
import type { FcmClient } from '../../api/client.js';
import {
  compileVmValidator,
  connect,
  outputsOf,
  VM_ARG_KEYS,
  VM_DEFAULTS,
  VM_INPUTS,
  VM_OUTPUTS,
  VmResource,
  VmResourceError,
  apiFailure,
  type VmArgKey,
  type VmArgs,
  type VmOutputs,
  type VmValidator,
} from '../vm-resource.js';
import { isUnknown, ProviderError, type AttributeSpec, type AttributeType, type Diagnostic, type ProviderSpec, type Value } from './provider.js';

/** Terraform attribute name of a VmOutputs key. */
export function tfName(key: string): string {
  if (key === 'vmId') return 'id';
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const ARG_TYPES: Record<VmArgKey, AttributeType> = {
  name: 'string',
  vcpus: 'number',
  memoryMib: 'number',
  diskMib: 'number',
  swapMib: 'number',
  port: 'number',
  image: 'string',
  domains: ['set', 'string'],
  sleepAfter: 'string',
  running: 'bool',
  waitTimeoutSeconds: 'number',
};

const OUTPUT_KEYS = Object.keys(VM_OUTPUTS) as (keyof typeof VM_OUTPUTS)[];

function resourceSchema(): AttributeSpec[] {
  const attrs: AttributeSpec[] = [
    { name: 'id', type: 'string', computed: true, useStateForUnknown: true, description: VM_OUTPUTS.vmId.description },
  ];
  for (const k of VM_ARG_KEYS) {
    const info = VM_INPUTS[k];
    if (k === 'name') {
      attrs.push({ name: 'name', type: 'string', required: true, forceNew: true, description: info.description });
      continue;
    }
    attrs.push({
      name: tfName(k),
      type: ARG_TYPES[k],
      optional: true,
      computed: true,
      default: VM_DEFAULTS[k],
      ...(info.replace ? { forceNew: true } : {}),
      description: info.description,
    });
  }
  for (const k of OUTPUT_KEYS) {
    if (k === 'vmId') continue;
    const o = VM_OUTPUTS[k];
    attrs.push({ name: tfName(k), type: 'string', computed: true, ...(o.stable ? { useStateForUnknown: true } : {}), description: o.description });
  }
  return attrs;
}

function dataSourceSchema(): AttributeSpec[] {
  const attrs: AttributeSpec[] = [
    { name: 'name', type: 'string', required: true, description: 'Name of the VM to look up.' },
    { name: 'id', type: 'string', computed: true, description: VM_OUTPUTS.vmId.description },
  ];
  for (const k of VM_ARG_KEYS) {
    if (k === 'name' || VM_INPUTS[k].local) continue;
    attrs.push({ name: tfName(k), type: ARG_TYPES[k], computed: true, description: VM_INPUTS[k].description.split('. ')[0]! + '.' });
  }
  for (const k of OUTPUT_KEYS) {
    if (k !== 'vmId') attrs.push({ name: tfName(k), type: 'string', computed: true, description: VM_OUTPUTS[k].description });
  }
  return attrs;
}

type TfState = Record<string, Value>;

/** Known configured values as VmArgs keys (unknown and null left out). */
function knownArgs(config: TfState): Partial<VmArgs> {
  const out: Record<string, unknown> = {};
  for (const k of VM_ARG_KEYS) {
    const v = config[tfName(k)];
    if (v === null || v === undefined || isUnknown(v) || (Array.isArray(v) && v.some(isUnknown))) continue;
    out[k] = v;
  }
  return out as Partial<VmArgs>;
}

/** Planned state → complete desired args (the plan has every default filled in). */
function plannedArgs(planned: TfState): VmArgs {
  const a = knownArgs(planned);
  if (typeof a.name !== 'string') throw new ProviderError('name must be known at apply time', { attribute: 'name' });
  return { ...VM_DEFAULTS, ...a, name: a.name } as VmArgs;
}

function toTf(o: VmOutputs): TfState {
  const out: TfState = {};
  for (const [k, v] of Object.entries(o)) out[tfName(k)] = v as Value;
  return out;
}

function dataToTf(o: VmOutputs): TfState {
  const s = toTf(o);
  delete s['wait_timeout_seconds'];
  return s;
}

function tfError(e: unknown): unknown {
  if (!(e instanceof VmResourceError)) return e;
  return new ProviderError(e.message, {
    code: e.code,
    ...(e.attribute ? { attribute: tfName(e.attribute) } : {}),
    ...(e.detail ? { detail: e.detail } : {}),
    ...(e.partial ? { state: toTf(e.partial) } : {}),
  });
}

async function tf<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw tfError(e);
  }
}

export function fcmProviderSpec(env: Record<string, string | undefined> = process.env): ProviderSpec {
  let client: FcmClient | null = null;
  let validator: VmValidator | null = null;
  const validate = (args: Partial<VmArgs>): Diagnostic[] => {
    validator ??= compileVmValidator();
    return validator(args).map((i) => ({
      severity: 'error',
      summary: `Invalid ${tfName(i.attribute)}`,
      detail: `${tfName(i.attribute)}${i.index !== undefined ? ` element ${JSON.stringify((args as Record<string, unknown[]>)[i.attribute]?.[i.index])}` : ''} ${i.message}`,
      attribute: tfName(i.attribute),
    }));
  };
  const vms = (): VmResource => {
    if (!client) throw new ProviderError('The fcm provider is not configured (its host or token depend on values not known yet).');
    return new VmResource(client);
  };

  return {
    name: 'fcm',
    namespace: 'fcm',
    description: 'fcm: apps in microVMs on your own server.',
    providerSchema: [
      {
        name: 'host',
        type: 'string',
        optional: true,
        description: 'fcm daemon URL or host:port. Default: $FCM_HOST, then http://localhost:7777.',
      },
      {
        name: 'token',
        type: 'string',
        optional: true,
        sensitive: true,
        description: 'API token. Default: $FCM_TOKEN, then ~/.fcm-token.',
      },
    ],
    configure(config) {
      const host = config['host'];
      const token = config['token'];
      if (isUnknown(host) || isUnknown(token)) return; // not known during this plan: resources report it if they need the API
      try {
        client = connect({ host: (host as string | null) ?? null, token: (token as string | null) ?? null }, env, 'terraform-provider-fcm');
      } catch (e) {
        return [{ severity: 'error', summary: e instanceof Error ? e.message : String(e), attribute: 'host' }];
      }
    },
    resources: {
      fcm_vm: {
        description: 'A microVM running an app: git push to its git_url, reach it at its url.',
        schema: resourceSchema(),
        handler: {
          validate: (config: TfState) => validate(knownArgs(config)),
          plan(prior: TfState | null, _proposed: TfState, ctx) {
            const plan = ctx.defaultPlan();
            if (prior && plan.requiresReplace.length === 0 && plan.planned['running'] !== false) {
              const resized = (['vcpus', 'memory_mib'] as const).filter((k) => !isUnknown(plan.planned[k]) && plan.planned[k] !== prior[k]);
              if (resized.length && prior['running'] === true) {
                plan.diagnostics = resized.map((k) => ({
                  severity: 'warning' as const,
                  summary: `Changing ${k} restarts the VM`,
                  detail: `${String(prior['name'])} is stopped gracefully and started again with the new size.`,
                  attribute: k,
                }));
              }
            }
            return plan;
          },
          create: (planned: TfState, ctx) => tf(async () => toTf(await vms().create(plannedArgs(planned), { signal: ctx.signal }))),
          read: (current: TfState, ctx) =>
            tf(async () => {
              const got = await vms().read(String(current['name']), {
                ...(typeof current['id'] === 'string' ? { vmId: current['id'] } : {}),
                ...(typeof current['wait_timeout_seconds'] === 'number' ? { waitTimeoutSeconds: current['wait_timeout_seconds'] } : {}),
                ...(typeof current['sleep_after'] === 'string' ? { sleepAfter: current['sleep_after'] } : {}),
              }, { signal: ctx.signal });
              return got && toTf(got);
            }),
          update: (prior: TfState, planned: TfState, ctx) =>
            tf(async () =>
              toTf(
                await vms().update(
                  { name: String(prior['name']), ...(typeof prior['id'] === 'string' ? { vmId: prior['id'] } : {}) },
                  plannedArgs(planned),
                  { signal: ctx.signal },
                ),
              ),
            ),
          delete: (prior: TfState, ctx) =>
            tf(() => vms().delete({ name: String(prior['name']), ...(typeof prior['id'] === 'string' ? { vmId: prior['id'] } : {}) }, { signal: ctx.signal })),
          importById: (id: string, ctx) =>
            tf(async () => {
              const got = await vms().import(id.trim(), { signal: ctx.signal });
              return got && toTf(got);
            }),
        },
      },
    },
    dataSources: {
      fcm_vm: {
        description: 'Looks up an existing VM by name.',
        schema: dataSourceSchema(),
        handler: {
          validate: (config: TfState) => validate(knownArgs({ name: config['name'] ?? null })),
          read: (config: { name: string }, ctx) =>
            tf(async () => {
              const c = vms().client;
              try {
                return dataToTf(outputsOf(await c.vms.get(config.name, { signal: ctx.signal }), VM_DEFAULTS));
              } catch (e) {
                const err = apiFailure(e, `Reading VM ${config.name} failed`);
                if (err.code === 'vm_not_found') err.attribute = 'name';
                throw err;
              }
            }),
        },
      },
    },
  };
}
