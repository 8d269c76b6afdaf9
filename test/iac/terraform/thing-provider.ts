/**
 * A tiny provider used to test the generic Terraform provider layer against
 * the real terraform binary. Its "remote API" is a JSON file (the provider
 * config's store_path): every terraform command starts a fresh provider
 * process, and tests inject drift by editing the file.
 *
 *   provider "fcmtest" { store_path = "/tmp/.../store.json" }
 *   resource "fcmtest_thing" "a" { name = "alpha" size = 3 labels = { env = "dev" } }
 *   data "fcmtest_thing" "a" { name = "alpha" }
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isUnknown, ProviderError, type AttributeSpec, type Diagnostic, type ProviderSpec } from '../../../provider/terraform/provider.js';

export interface Thing {
  id: string;
  name: string;
  size: number;
  status: string;
  labels: Record<string, string> | null;
}

export interface Store {
  nextId: number;
  things: Record<string, Thing>;
  /** Every mutating call, e.g. "create t1", so tests can tell an in-place update from a replacement. */
  ops: string[];
}

export function readStore(path: string): Store {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Store;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { nextId: 1, things: {}, ops: [] };
    throw e;
  }
}

export function writeStore(path: string, s: Store): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${path}.tmp`, path);
}

const NAME_RE = /^[a-z][a-z0-9-]{0,30}$/;

const thingSchema: AttributeSpec[] = [
  { name: 'id', type: 'string', computed: true, useStateForUnknown: true, description: 'Identifier assigned by the store.' },
  {
    name: 'name',
    type: 'string',
    required: true,
    forceNew: true,
    description: 'Name of the thing; changing it creates a new thing.',
  },
  { name: 'size', type: 'number', optional: true, computed: true, description: 'Size (>= 1 & <= 100); the store picks 1 when unset.' },
  { name: 'labels', type: ['map', 'string'], optional: true, description: 'Free-form labels.' },
  { name: 'status', type: 'string', computed: true, description: 'Lifecycle status reported by the store.' },
];

const dataSchema: AttributeSpec[] = [
  { name: 'name', type: 'string', required: true, description: 'Name of the thing to look up.' },
  { name: 'id', type: 'string', computed: true, description: 'Identifier of the thing.' },
  { name: 'size', type: 'number', computed: true, description: 'Size of the thing.' },
  { name: 'status', type: 'string', computed: true, description: 'Status of the thing.' },
];

type ThingState = {
  id: string | null;
  name: string;
  size: number | null;
  labels: Record<string, string> | null;
  status: string | null;
};

export function thingProviderSpec(): ProviderSpec {
  let storePath = '';
  const store = (): Store => {
    if (!storePath) throw new Error('provider not configured');
    return readStore(storePath);
  };
  const toState = (t: Thing): ThingState => ({ id: t.id, name: t.name, size: t.size, labels: t.labels, status: t.status });

  return {
    name: 'fcmtest',
    description: 'Test provider for the fcm Terraform plugin layer.',
    providerSchema: [
      { name: 'store_path', type: 'string', required: true, description: 'JSON file acting as the remote API.' },
      { name: 'token', type: 'string', optional: true, sensitive: true, description: 'Unused secret (tests sensitive attributes).' },
    ],
    configure(config) {
      if (typeof config['store_path'] !== 'string') {
        return [{ severity: 'error', summary: 'store_path must be known when configuring', attribute: 'store_path' }];
      }
      storePath = config['store_path'];
    },
    resources: {
      fcmtest_thing: {
        description: 'An in-memory thing.',
        schema: thingSchema,
        handler: {
          validate(config: ThingState): Diagnostic[] {
            const out: Diagnostic[] = [];
            if (typeof config.name === 'string' && !NAME_RE.test(config.name)) {
              out.push({
                severity: 'error',
                summary: 'Invalid thing name',
                detail: `${JSON.stringify(config.name)} must match ${NAME_RE.source}`,
                attribute: 'name',
              });
            }
            const size = config.size as unknown;
            if (typeof size === 'number' && !isUnknown(size) && (size < 1 || size > 100 || !Number.isInteger(size))) {
              out.push({ severity: 'error', summary: 'Invalid size', detail: 'size must be an integer from 1 to 100', attribute: 'size' });
            }
            return out;
          },
          async create(planned: ThingState, ctx): Promise<ThingState> {
            if (planned.name.startsWith('slow')) {
              // Blocks until Terraform sends StopProvider (Ctrl-C), to test cancellation.
              const s0 = store();
              s0.ops.push(`begin create ${planned.name}`);
              writeStore(storePath, s0);
              await new Promise<void>((resolve, reject) => {
                const timer = setTimeout(resolve, 60_000);
                ctx.signal.addEventListener('abort', () => {
                  clearTimeout(timer);
                  reject(new Error('create interrupted: provider stopped'));
                });
              });
            }
            const s = store();
            if (planned.name === 'taken' || Object.values(s.things).some((t) => t.name === planned.name)) {
              throw new ProviderError(`a thing named ${planned.name} already exists`, { code: 'conflict', attribute: 'name' });
            }
            const t: Thing = {
              id: `t${s.nextId++}`,
              name: planned.name,
              size: typeof planned.size === 'number' ? planned.size : 1,
              labels: planned.labels,
              status: 'ready',
            };
            if (planned.name.startsWith('half')) t.status = 'broken'; // created, but unusable
            s.things[t.id] = t;
            s.ops.push(`create ${t.id}`);
            writeStore(storePath, s);
            if (t.status === 'broken') {
              throw new ProviderError(`thing ${t.id} was created but is broken`, { code: 'not_ready', state: toState(t) });
            }
            return toState(t);
          },
          async read(current: ThingState): Promise<ThingState | null> {
            const t = current.id ? store().things[current.id] : undefined;
            return t ? toState(t) : null;
          },
          async update(prior: ThingState, planned: ThingState): Promise<ThingState> {
            const s = store();
            const t = prior.id ? s.things[prior.id] : undefined;
            if (!t) throw new ProviderError(`thing ${prior.id} disappeared`, { code: 'not_found' });
            t.size = typeof planned.size === 'number' ? planned.size : t.size;
            t.labels = planned.labels;
            t.status = 'updated';
            s.ops.push(`update ${t.id}`);
            writeStore(storePath, s);
            return toState(t);
          },
          async delete(prior: ThingState): Promise<void> {
            const s = store();
            if (prior.id && s.things[prior.id]) {
              delete s.things[prior.id];
              s.ops.push(`delete ${prior.id}`);
              writeStore(storePath, s);
            }
          },
          async importById(id: string): Promise<ThingState | null> {
            const t = store().things[id];
            return t ? toState(t) : null;
          },
        },
      },
    },
    dataSources: {
      fcmtest_thing: {
        description: 'Looks a thing up by name.',
        schema: dataSchema,
        handler: {
          async read(config: { name: string }) {
            const t = Object.values(store().things).find((x) => x.name === config.name);
            if (!t) throw new ProviderError(`no thing named ${config.name}`, { code: 'not_found', attribute: 'name' });
            return { name: t.name, id: t.id, size: t.size, status: t.status };
          },
        },
      },
    },
  };
}
