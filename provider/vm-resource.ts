/**
 * The fcm VM as an infrastructure-as-code resource: one implementation of
 * check, diff, create, read, update, delete and import over the typed API
 * client, shared by the Pulumi dynamic provider (provider/pulumi) and the
 * Terraform provider (provider/terraform/fcm.ts). Adapters only translate
 * names (memoryMib ↔ memory_mib), unknown values and errors.
 *
 * Desired state (inputs, "args"): name, vcpus, memoryMib, diskMib, swapMib,
 * port, image, domains, sleepAfter, running, waitTimeoutSeconds. Defaults come from the
 * spec's CreateVmRequest; `running` (default true) and `waitTimeoutSeconds`
 * (default 300) are this layer's own.
 *
 * What changes how (VM_INPUTS below carries the reasons):
 *  - in place: vcpus/memoryMib (updateVm; a running VM restarts), domains
 *    (no restart), sleepAfter (no restart), running (startVm/stopVm),
 *    waitTimeoutSeconds (local only);
 *  - replacement: name, diskMib, swapMib, port, image.
 *
 * Create is idempotent by name (see `create`): a VM that already has the
 * name and that the caller can see is adopted when its fixed settings match.
 *
 * SERIALIZATION CONTRACT (Pulumi): a dynamic provider's code is serialized by
 * capturing closures and re-created as CommonJS in Pulumi's provider host.
 * Everything reachable from VmResource must therefore: capture no named
 * imports of Node built-ins or npm packages (get them at call time via
 * `process.getBuiltinModule` / `requireHere`); keep no module-level caches
 * (they would be serialized with whatever they hold); never mention
 * `import.meta` inside a function. test/iac/pulumi-host.test.ts checks that
 * the real host can load and run the serialized provider.
 */
import type { Ajv2020 as Ajv2020Class, ErrorObject } from 'ajv/dist/2020.js';
import { caFetch, readCaFile } from '../api/ca-fetch.js';
import { createFcmClient, type CallOptions, type FcmClient, type Vm, type VmState } from '../api/client.js';
import { chooseToken, DEFAULT_HOST, loadCredentials, normalizeHostUrl, type HostOrigin } from '../api/credentials.js';
import { spec } from '../api/spec.gen.js';

// ---- the shape --------------------------------------------------------------------------

export interface VmArgs {
  name: string;
  vcpus: number;
  memoryMib: number;
  diskMib: number;
  swapMib: number;
  port: number;
  image: string;
  domains: string[];
  /** Idle time after which the VM sleeps (`15m`, `2h`) or `off`; compared by duration (`60m` = `1h`). */
  sleepAfter: string;
  /** Desired power state: true = running (start/stop reconcile it). */
  running: boolean;
  /** How long create/update wait for the guest to be running. */
  waitTimeoutSeconds: number;
}

export type VmArgKey = keyof VmArgs;

export interface VmOutputs extends VmArgs {
  /** The daemon's id (vm_…): tells this VM apart from a later one with the same name. */
  vmId: string;
  state: Vm['state'];
  ip: string;
  mac: string;
  url: string;
  gitUrl: string;
  gitHttpUrl: string;
  hypervisor: string;
  createdAt: string;
}

export interface VmInputInfo {
  /** A change replaces the VM (delete + create) instead of updating it. */
  replace: boolean;
  /** A change restarts a running VM. */
  restarts?: boolean;
  /** Not a property of the VM, only of how the provider works. */
  local?: boolean;
  description: string;
}

/** Every input, how a change to it is carried out, and why. */
export const VM_INPUTS: Record<VmArgKey, VmInputInfo> = {
  name: {
    replace: true,
    description:
      'VM name: a DNS label, also the host name in its URL and the git remote. Changing it creates a new VM (the name is the identity the API addresses).',
  },
  vcpus: { replace: false, restarts: true, description: 'Virtual CPUs. Changed in place; a running VM restarts (graceful stop, then start).' },
  memoryMib: { replace: false, restarts: true, description: 'Guest RAM in MiB. Changed in place; a running VM restarts (graceful stop, then start).' },
  diskMib: {
    replace: true,
    description:
      'Root disk size in MiB (sparse). Disks are never resized in place: any change replaces the VM, and the new VM starts from a fresh disk (the old disk and its data are deleted).',
  },
  swapMib: { replace: true, description: 'Swap disk size in MiB (0 for none). The swap disk is made at creation: a change replaces the VM.' },
  port: {
    replace: true,
    description: 'Guest port that receives the VM\'s HTTP traffic. The API cannot change it on an existing VM: a change replaces the VM.',
  },
  image: { replace: true, description: 'Base image. The root disk is a copy-on-write copy of it: a change replaces the VM.' },
  domains: { replace: false, description: 'Extra custom domains routed to the VM. Changed in place, no restart.' },
  sleepAfter: {
    replace: false,
    description:
      'Idle time after which the VM sleeps (memory saved to disk, woken by the next request): a number with s, m or h (15m, 2h), at least 10 s, or off (the default). Changed in place, no restart.',
  },
  running: {
    replace: false,
    description: 'Whether the VM should be running (default true). A VM stopped outside IaC shows as a change back to running; false stops it.',
  },
  waitTimeoutSeconds: {
    replace: false,
    local: true,
    description: 'How long create and update wait for the VM to be running, in seconds (default 300). Changing it changes nothing on the server.',
  },
};

export const VM_ARG_KEYS = Object.keys(VM_INPUTS) as VmArgKey[];

/** Computed results, in addition to the inputs. */
export const VM_OUTPUTS: Record<Exclude<keyof VmOutputs, VmArgKey>, { stable: boolean; description: string }> = {
  vmId: { stable: true, description: 'The daemon\'s id of the VM (vm_…).' },
  state: { stable: false, description: 'Lifecycle state reported by the daemon (running, stopped, failed, …).' },
  ip: { stable: true, description: 'Private IPv4 address of the VM.' },
  mac: { stable: true, description: 'MAC address of the VM\'s network interface.' },
  url: { stable: true, description: 'The VM\'s public HTTPS URL.' },
  gitUrl: { stable: true, description: 'SSH git remote: git push here to deploy.' },
  gitHttpUrl: { stable: true, description: 'HTTPS git remote (token auth).' },
  hypervisor: { stable: true, description: 'Hypervisor running the VM (qemu or firecracker).' },
  createdAt: { stable: true, description: 'When the VM was created (RFC 3339).' },
};

const SPEC_SCHEMAS = spec['components']['schemas'] as Record<string, Record<string, unknown>>;

/**
 * CreateVmRequest from the spec, made self-contained: every schema it refers
 * to is copied under $defs (refs rewritten), so Ajv compiles it alone and
 * the Pulumi serializer captures a few hundred bytes, not the whole spec.
 */
export const CREATE_VM_SCHEMA: Record<string, unknown> = selfContainedSchema('CreateVmRequest');
/**
 * The same as text, which is what the validator captures: Pulumi's closure
 * serializer (3.248) throws on objects with a primitive `default` property
 * (it probes them as `import * as` wrappers), and schemas have defaults.
 */
const CREATE_VM_SCHEMA_JSON = JSON.stringify(CREATE_VM_SCHEMA);

function selfContainedSchema(root: string): Record<string, unknown> {
  const defs: Record<string, unknown> = {};
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string' && x.startsWith('#/components/schemas/')) {
        const name = x.slice('#/components/schemas/'.length);
        if (!(name in defs)) {
          defs[name] = {}; // placeholder against cycles
          defs[name] = rewrite(SPEC_SCHEMAS[name]);
        }
        out[k] = `#/$defs/${name}`;
      } else out[k] = rewrite(x);
    }
    return out;
  };
  const schema = rewrite(SPEC_SCHEMAS[root]) as Record<string, unknown>;
  return { $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema, $defs: defs };
}

const createProps = CREATE_VM_SCHEMA['properties'] as Record<string, { default?: unknown }>;

/** Defaults of every input: the spec's CreateVmRequest defaults, plus this layer's own. */
export const VM_DEFAULTS: Omit<VmArgs, 'name'> = {
  vcpus: createProps['vcpus']!.default as number,
  memoryMib: createProps['memoryMib']!.default as number,
  diskMib: createProps['diskMib']!.default as number,
  swapMib: createProps['swapMib']!.default as number,
  port: createProps['port']!.default as number,
  image: createProps['image']!.default as string,
  domains: [],
  sleepAfter: 'off',
  running: true,
  waitTimeoutSeconds: 300,
};

/** The shortest sleepAfter the API takes (daemon/http/routes/vms.ts MIN_SLEEP_AFTER_SEC). */
export const MIN_SLEEP_AFTER_SEC = 10;

/** `15m` → 900, `off` → null; undefined for what is not a SleepAfter. */
export function sleepAfterSeconds(v: unknown): number | null | undefined {
  if (v === 'off') return null;
  const m = typeof v === 'string' ? /^([1-9][0-9]{0,5})([smh])$/.exec(v) : null;
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
}

/** Two sleepAfter spellings of the same duration (the API answers the shortest: `60m` comes back as `1h`). */
export function sameSleepAfter(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = sleepAfterSeconds(a ?? 'off');
  const y = sleepAfterSeconds(b ?? 'off');
  return x === undefined || y === undefined ? a === b : x === y;
}

export const WAIT_TIMEOUT_RANGE = { min: 1, max: 3600 } as const;

// ---- errors ---------------------------------------------------------------------------------

/** An input problem, pointing at the input (camelCase key; `index` for a list element). */
export interface VmIssue {
  attribute: VmArgKey | string;
  index?: number;
  message: string;
}

/**
 * Failure of a resource operation. `attribute` names the input to blame;
 * `partial` is the VM as it exists after a create/update that got part of
 * the way (adapters record it so the VM is not leaked).
 */
export class VmResourceError extends Error {
  override name = 'VmResourceError';
  code: string;
  attribute: VmArgKey | undefined;
  partial: VmOutputs | undefined;
  detail: string | undefined;
  constructor(message: string, opts: { code?: string; attribute?: VmArgKey; partial?: VmOutputs; detail?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    // Pulumi's serialized copy of this class calls Error as a function, which sets no message on `this`.
    this.message = message;
    this.code = opts.code ?? 'failed';
    this.attribute = opts.attribute;
    this.partial = opts.partial;
    this.detail = opts.detail;
  }
}

/** The problem/client code of an API failure (ApiError.code), or undefined. Duck-typed: works across serialized copies of the client. */
export function errorCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

// ---- check ----------------------------------------------------------------------------------

/**
 * A `require` rooted at this file, available both here (ESM) and in Pulumi's host (re-created CommonJS).
 * A single-file build (the Terraform provider, packaging/build-packages.ts) has no node_modules beside
 * it: it bundles the modules and registers them in globalThis.__fcmBundledModules, looked up first.
 */
const MODULE_URL = import.meta.url;
function requireHere(id: string): unknown {
  const bundled = (globalThis as { __fcmBundledModules?: Record<string, unknown> }).__fcmBundledModules?.[id];
  if (bundled) return bundled;
  const { createRequire } = process.getBuiltinModule('node:module');
  return createRequire(MODULE_URL)(id);
}

export type VmValidator = (args: Partial<VmArgs>) => VmIssue[];

/**
 * Compiles the input checks (cache the result): the spec's CreateVmRequest
 * rules through Ajv 2020, plus the two inputs the API does not have.
 * Only the keys present are checked: leave out values not known yet.
 */
export function compileVmValidator(): VmValidator {
  const { Ajv2020 } = requireHere('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020Class };
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(JSON.parse(CREATE_VM_SCHEMA_JSON) as object);
  return (args) => {
    const issues: VmIssue[] = [];
    const body: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(args)) {
      if (v === undefined) continue;
      if (k === 'running') {
        if (typeof v !== 'boolean') issues.push({ attribute: k, message: 'must be a boolean' });
      } else if (k === 'waitTimeoutSeconds') {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < WAIT_TIMEOUT_RANGE.min || v > WAIT_TIMEOUT_RANGE.max) {
          issues.push({ attribute: k, message: `must be a whole number of seconds from ${WAIT_TIMEOUT_RANGE.min} to ${WAIT_TIMEOUT_RANGE.max} (got ${JSON.stringify(v)})` });
        }
      } else body[k] = v;
    }
    const sec = sleepAfterSeconds(body['sleepAfter']);
    if (typeof sec === 'number' && sec < MIN_SLEEP_AFTER_SEC) {
      issues.push({ attribute: 'sleepAfter', message: `must be at least ${MIN_SLEEP_AFTER_SEC}s, or off (got ${JSON.stringify(body['sleepAfter'])})` });
    }
    if (!validate(body)) {
      for (const e of validate.errors ?? []) issues.push(issueFromAjv(e, body));
    }
    return issues;
  };
}

function issueFromAjv(e: ErrorObject, body: Record<string, unknown>): VmIssue {
  const parts = e.instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const extra = (e.params as { additionalProperty?: string }).additionalProperty;
  if (extra !== undefined) return { attribute: extra, message: 'is not a known input' };
  const attribute = parts[0] ?? '';
  let got: unknown = body[attribute];
  const issue: VmIssue = { attribute, message: e.message ?? 'is invalid' };
  if (parts[1] !== undefined && /^\d+$/.test(parts[1])) {
    issue.index = Number(parts[1]);
    got = (got as unknown[])[issue.index];
  }
  if (e.keyword !== 'uniqueItems' && e.keyword !== 'maxItems') issue.message += ` (got ${JSON.stringify(got)})`;
  return issue;
}

/** Inputs with defaults filled in for the keys that are undefined (null counts as unset). */
export function withDefaults(args: Partial<VmArgs> & { name: string }): VmArgs {
  const out = { ...VM_DEFAULTS, domains: [...VM_DEFAULTS.domains] } as VmArgs;
  for (const k of VM_ARG_KEYS) {
    const v = args[k];
    if (v !== undefined && v !== null) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}

// ---- diff -----------------------------------------------------------------------------------

export interface VmDiff {
  /** Inputs whose desired value differs from the current one. */
  changed: VmArgKey[];
  /** Of those, the ones that force replacement. */
  replace: VmArgKey[];
  /** An in-place update that restarts the VM (size change while it should run). */
  restarts: boolean;
}

export function sameDomains(a: readonly string[] | null | undefined, b: readonly string[] | null | undefined): boolean {
  const x = [...(a ?? [])].sort();
  const y = [...(b ?? [])].sort();
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

/**
 * Current (state or last outputs) vs desired. `unknown` lists desired keys
 * whose value is not known yet (a preview): they count as changed.
 */
export function diffVm(current: Partial<VmArgs>, desired: Partial<VmArgs>, unknown: readonly string[] = []): VmDiff {
  const changed: VmArgKey[] = [];
  for (const k of VM_ARG_KEYS) {
    if (unknown.includes(k)) {
      changed.push(k);
      continue;
    }
    const d = desired[k] ?? (k === 'name' ? undefined : VM_DEFAULTS[k as Exclude<VmArgKey, 'name'>]);
    const c = current[k] ?? (k === 'name' ? undefined : VM_DEFAULTS[k as Exclude<VmArgKey, 'name'>]);
    const same = k === 'domains' ? sameDomains(c as string[], d as string[]) : k === 'sleepAfter' ? sameSleepAfter(c as string, d as string) : c === d;
    if (!same) changed.push(k);
  }
  const replace = changed.filter((k) => VM_INPUTS[k].replace);
  const restarts = replace.length === 0 && changed.some((k) => VM_INPUTS[k].restarts) && (desired.running ?? true) !== false;
  return { changed, replace, restarts };
}

// ---- connection ----------------------------------------------------------------------------

export { DEFAULT_HOST };

export interface ConnectionSettings {
  host?: string | null | undefined;
  token?: string | null | undefined;
  /** PEM file of a CA the server's certificate chains to (besides the system's). */
  caFile?: string | null | undefined;
}

export interface Connection {
  baseUrl: string;
  token: string | null;
  /** Where the host came from: "config", "FCM_HOST", "credentials" (fcm login's default) or "default". */
  hostSource: string;
  tokenSource: string | null;
  caFile: string | null;
}

/** Accepts host:port, host or an http(s) URL; returns the base URL without a trailing slash (api/host-url.ts). */
export function normalizeHost(raw: string, source: string): string {
  return normalizeHostUrl(raw, source, (message) => new VmResourceError(message, { code: 'invalid_config' }));
}

/**
 * Like the CLI (api/credentials.ts): host = config > FCM_HOST > the default
 * host of `fcm login` > http://localhost:7777; token = config > FCM_TOKEN >
 * the token fcm login stored for that host > ~/.fcm-token (not for a host
 * taken from the store); CA = config > FCM_CA_FILE > the one stored with
 * the host's login.
 */
export function resolveConnection(settings: ConnectionSettings, env: Record<string, string | undefined> = process.env): Connection {
  const home = env['HOME'] ?? process.getBuiltinModule('node:os').homedir();
  const creds = loadCredentials(env, home);
  let baseUrl = DEFAULT_HOST;
  let hostSource = 'default';
  let origin: HostOrigin = 'builtin-default';
  if (settings.host) {
    baseUrl = normalizeHost(settings.host, 'host');
    hostSource = 'config';
    origin = 'named';
  } else if (env['FCM_HOST']) {
    baseUrl = normalizeHost(env['FCM_HOST'], 'FCM_HOST');
    hostSource = 'FCM_HOST';
    origin = 'named';
  } else if (creds.store.default) {
    baseUrl = creds.store.default;
    hostSource = 'credentials';
    origin = 'stored-default';
  }
  let token: string | null = null;
  let tokenSource: string | null = null;
  if (settings.token?.trim()) {
    token = settings.token.trim();
    tokenSource = 'config';
  } else {
    // No token: operations fail with `unauthorized`, which says what to do.
    const c = chooseToken(baseUrl, origin, env, home, creds);
    token = c.token;
    tokenSource = c.source;
  }
  const caFile = settings.caFile || env['FCM_CA_FILE'] || creds.store.hosts[baseUrl]?.caFile || null;
  return { baseUrl, token, hostSource, tokenSource, caFile };
}

export function connect(settings: ConnectionSettings, env?: Record<string, string | undefined>, userAgent = 'fcm-iac'): FcmClient {
  const c = resolveConnection(settings, env);
  let pem: string | null = null;
  if (c.caFile) {
    try {
      pem = readCaFile(c.caFile);
    } catch (e) {
      throw new VmResourceError((e as Error).message, { code: 'invalid_config' });
    }
  }
  const https = c.baseUrl.startsWith('https:');
  return createFcmClient({ baseUrl: c.baseUrl, token: c.token, userAgent, ...(pem || https ? { fetch: caFetch(pem) } : {}) });
}

// ---- operations -----------------------------------------------------------------------------

export interface OpOptions {
  signal?: AbortSignal | undefined;
}

const LIVE: readonly Vm['state'][] = ['running', 'starting'];

/**
 * Outputs from the API's view of the VM; `running` reflects what is actually happening.
 * `local.sleepAfter`: the configured spelling, kept when it means what the API answers
 * (`60m` for the API's `1h`), so a plan does not show a change that is none.
 */
export function outputsOf(vm: Vm, local: Pick<VmArgs, 'waitTimeoutSeconds'> & Partial<Pick<VmArgs, 'sleepAfter'>>): VmOutputs {
  return {
    name: vm.name,
    vcpus: vm.vcpus,
    memoryMib: vm.memoryMib,
    diskMib: vm.diskMib,
    swapMib: vm.swapMib,
    port: vm.port,
    image: vm.image,
    domains: [...vm.domains],
    sleepAfter: local.sleepAfter !== undefined && sameSleepAfter(local.sleepAfter, vm.sleepAfter) ? local.sleepAfter : vm.sleepAfter,
    running: LIVE.includes(vm.state),
    waitTimeoutSeconds: local.waitTimeoutSeconds,
    vmId: vm.id,
    state: vm.state,
    ip: vm.ip,
    mac: vm.mac,
    url: vm.url,
    gitUrl: vm.gitUrl,
    gitHttpUrl: vm.gitHttpUrl,
    hypervisor: vm.hypervisor,
    createdAt: vm.createdAt,
  };
}

/** Fixed settings (replacement-only) on which an existing VM must agree with the configuration to be adopted. */
const FIXED: readonly ('diskMib' | 'swapMib' | 'port' | 'image')[] = ['diskMib', 'swapMib', 'port', 'image'];

export class VmResource {
  constructor(readonly client: FcmClient) {}

  /**
   * Creates the VM and waits until it runs (or stops it if `running` is
   * false). Idempotent by name: if the name is taken by a VM the caller can
   * see (theirs; an admin token sees all), it is adopted instead, provided
   * its fixed settings (diskMib, swapMib, port, image) equal the desired
   * ones; its size, domains and power state are then converged. Why this is
   * safe enough: names are unique per daemon and a VM of another user is
   * invisible (name_taken, not adoptable); a mismatch in fixed settings is
   * refused rather than "fixed", so a replacement planned with
   * create-before-destroy can never adopt the VM it is about to delete.
   * The remaining risk is two configurations declaring the same name: both
   * then manage one VM. This is what makes a retried create (after a crash
   * or timeout that left the VM but not the state) converge instead of fail.
   */
  async create(args: VmArgs, o: OpOptions = {}): Promise<VmOutputs> {
    const call: CallOptions = o.signal ? { signal: o.signal } : {};
    let vm: Vm;
    let adopted = false;
    try {
      vm = await this.client.vms.create(
        {
          name: args.name,
          vcpus: args.vcpus,
          memoryMib: args.memoryMib,
          diskMib: args.diskMib,
          swapMib: args.swapMib,
          port: args.port,
          image: args.image,
          domains: args.domains,
          sleepAfter: args.sleepAfter,
        },
        call,
      );
    } catch (e) {
      if (errorCode(e) !== 'name_taken') throw apiFailure(e, 'Creating the VM failed');
      vm = await this.adoptable(args, call, e);
      adopted = true;
    }
    try {
      if (adopted) return await this.converge(vm, args, o);
      if (!args.running) return outputsOf(await this.client.vms.stop(vm.name, { force: true }, call), args);
      return outputsOf(await this.client.vms.waitFor(vm.name, 'running', { ...call, timeoutMs: args.waitTimeoutSeconds * 1000 }), args);
    } catch (e) {
      throw await this.partialFailure(vm.name, args, e, `VM ${vm.name} was ${adopted ? 'adopted' : 'created'} but did not reach the desired state`);
    }
  }

  private async adoptable(args: VmArgs, call: CallOptions, taken: unknown): Promise<Vm> {
    let vm: Vm;
    try {
      vm = await this.client.vms.get(args.name, call);
    } catch (e) {
      if (errorCode(e) === 'vm_not_found') {
        throw new VmResourceError(`The name "${args.name}" is taken by a VM you cannot see (another user's): choose another name.`, {
          code: 'name_taken',
          attribute: 'name',
          cause: taken,
        });
      }
      throw apiFailure(e, `Reading the existing VM ${args.name} failed`);
    }
    const mismatched = FIXED.filter((k) => vm[k] !== args[k]);
    if (mismatched.length) {
      const diffs = mismatched.map((k) => `${k} ${JSON.stringify(vm[k])} (configured ${JSON.stringify(args[k])})`).join(', ');
      throw new VmResourceError(`A VM named "${args.name}" already exists with ${diffs}, which cannot change in place, so it is not adopted.`, {
        code: 'name_taken',
        attribute: mismatched[0]!,
        detail: 'Import it and make the configuration match, delete it, or choose another name.',
        cause: taken,
      });
    }
    if (vm.state === 'deleting') throw new VmResourceError(`A VM named "${args.name}" is being deleted; try again in a moment.`, { code: 'invalid_state', attribute: 'name' });
    return vm;
  }

  /** null = gone (deleted outside IaC, or the name now belongs to a different VM than `prior.vmId`). */
  async read(name: string, prior: Partial<Pick<VmOutputs, 'vmId' | 'waitTimeoutSeconds' | 'sleepAfter'>> = {}, o: OpOptions = {}): Promise<VmOutputs | null> {
    let vm: Vm;
    try {
      vm = await this.client.vms.get(name, o.signal ? { signal: o.signal } : {});
    } catch (e) {
      if (errorCode(e) === 'vm_not_found') return null;
      throw apiFailure(e, `Reading VM ${name} failed`);
    }
    if (vm.state === 'deleting' || (prior.vmId && vm.id !== prior.vmId)) return null;
    return outputsOf(vm, { waitTimeoutSeconds: prior.waitTimeoutSeconds ?? VM_DEFAULTS.waitTimeoutSeconds, ...(prior.sleepAfter !== undefined ? { sleepAfter: prior.sleepAfter } : {}) });
  }

  /** Import by name: the current VM as state (desired = actual), or null if there is none. */
  async import(name: string, o: OpOptions = {}): Promise<VmOutputs | null> {
    return this.read(name, {}, o);
  }

  /** Updates in place what can be (size, domains, power state); fixed settings are the caller's to replace. */
  async update(prior: Pick<VmOutputs, 'name'> & Partial<VmOutputs>, args: VmArgs, o: OpOptions = {}): Promise<VmOutputs> {
    const call: CallOptions = o.signal ? { signal: o.signal } : {};
    let vm: Vm;
    try {
      vm = await this.client.vms.get(prior.name, call);
    } catch (e) {
      if (errorCode(e) === 'vm_not_found') {
        throw new VmResourceError(`VM ${prior.name} no longer exists (deleted outside IaC); refresh to plan creating it again.`, { code: 'vm_not_found', attribute: 'name' });
      }
      throw apiFailure(e, `Reading VM ${prior.name} failed`);
    }
    if (prior.vmId && vm.id !== prior.vmId) {
      throw new VmResourceError(`The name ${prior.name} now belongs to a different VM (${vm.id}, not ${prior.vmId}); refresh first.`, { code: 'vm_not_found', attribute: 'name' });
    }
    try {
      return await this.converge(vm, args, o);
    } catch (e) {
      throw await this.partialFailure(prior.name, args, e, `Updating VM ${prior.name} failed`);
    }
  }

  /** Brings an existing VM to the desired size, domains, idle sleep and power state. */
  private async converge(current: Vm, args: VmArgs, o: OpOptions): Promise<VmOutputs> {
    const call: CallOptions = o.signal ? { signal: o.signal } : {};
    const name = current.name;
    const timeoutMs = args.waitTimeoutSeconds * 1000;
    let vm = current;
    if (vm.state === 'stopping') vm = await this.client.vms.waitFor(name, 'stopped', { ...call, timeoutMs });
    if (vm.state === 'creating') vm = await this.client.vms.waitFor(name, 'running', { ...call, timeoutMs });
    // Stop before resizing: a resize of a running VM would restart it only to be stopped.
    if (!args.running && LIVE.includes(vm.state)) vm = await this.client.vms.stop(name, {}, call);
    const patch: { vcpus?: number; memoryMib?: number; domains?: string[]; sleepAfter?: string } = {};
    if (args.vcpus !== vm.vcpus) patch.vcpus = args.vcpus;
    if (args.memoryMib !== vm.memoryMib) patch.memoryMib = args.memoryMib;
    if (!sameDomains(args.domains, vm.domains)) patch.domains = args.domains;
    if (!sameSleepAfter(args.sleepAfter, vm.sleepAfter)) patch.sleepAfter = args.sleepAfter;
    if (Object.keys(patch).length) {
      // updateVm: restarts a running VM when the size changes.
      vm = (await this.client.call('patch', '/v1/vms/{name}', { path: { name }, body: patch }, call)) as Vm;
    }
    if (args.running) {
      if (vm.state === 'stopped' || vm.state === 'failed') vm = await this.client.vms.start(name, call);
      if (vm.state !== 'running') vm = await this.client.vms.waitFor(name, 'running', { ...call, timeoutMs });
    }
    return outputsOf(vm, args);
  }

  /** Idempotent: a VM that is already gone (or whose name now belongs to another VM) counts as deleted. */
  async delete(prior: Pick<VmOutputs, 'name'> & Partial<Pick<VmOutputs, 'vmId'>>, o: OpOptions = {}): Promise<void> {
    const call: CallOptions = o.signal ? { signal: o.signal } : {};
    try {
      if (prior.vmId) {
        const vm = await this.client.vms.get(prior.name, call);
        if (vm.id !== prior.vmId) return; // not the VM this state describes: leave it alone
      }
      await this.client.vms.delete(prior.name, call);
    } catch (e) {
      if (errorCode(e) === 'vm_not_found') return;
      throw apiFailure(e, `Deleting VM ${prior.name} failed`);
    }
  }

  /** An error after the VM exists: carry its current state so adapters record it rather than forget it. */
  private async partialFailure(name: string, args: VmArgs, e: unknown, what: string): Promise<VmResourceError> {
    if (e instanceof VmResourceError && e.partial) return e;
    let partial: VmOutputs | undefined;
    try {
      partial = outputsOf(await this.client.vms.get(name), args);
    } catch {
      /* gone or unreachable: nothing to record */
    }
    const err = apiFailure(e, what);
    err.partial = partial;
    return err;
  }
}

/** Any failure → VmResourceError keeping the API's code, pointing at the input a validation error names. */
export function apiFailure(e: unknown, what: string): VmResourceError {
  if (e instanceof VmResourceError) return e;
  const code = errorCode(e) ?? 'failed';
  const message = e instanceof Error ? e.message : String(e);
  let attribute: VmArgKey | undefined;
  const fieldErrors = (e as { errors?: { path?: string }[] } | null)?.errors;
  for (const fe of Array.isArray(fieldErrors) ? fieldErrors : []) {
    const m = /^\/body\/([A-Za-z]+)/.exec(fe.path ?? '');
    if (m && (VM_ARG_KEYS as string[]).includes(m[1]!)) {
      attribute = m[1] as VmArgKey;
      break;
    }
  }
  if (!attribute && code === 'domain_taken') attribute = 'domains';
  if (!attribute && code === 'image_missing') attribute = 'image';
  if (!attribute && code === 'name_taken') attribute = 'name';
  // quota_exceeded / insufficient_capacity: which limit, its value, the usage and the request.
  const limit = limitOf(e);
  if (limit && !attribute && (VM_ARG_KEYS as string[]).includes(limit.name)) attribute = limit.name as VmArgKey;
  const detail = limit
    ? `${code === 'insufficient_capacity' ? 'Host capacity' : 'Quota'} ${limit.name}: ${limit.usage} ${limit.unit} in use + ${limit.requested} ${limit.unit} requested > limit ${limit.value} ${limit.unit}.`
    : undefined;
  return new VmResourceError(`${what}: ${message}`, { code, ...(attribute ? { attribute } : {}), ...(detail ? { detail } : {}), cause: e });
}

/** The problem's `limit` member (ApiError.limit), duck-typed like errorCode. */
function limitOf(e: unknown): { name: string; value: number; usage: number; requested: number; unit: string } | undefined {
  const l = (e as { limit?: Record<string, unknown> } | null)?.limit;
  if (!l || typeof l.name !== 'string' || typeof l.value !== 'number' || typeof l.usage !== 'number' || typeof l.requested !== 'number' || typeof l.unit !== 'string') return undefined;
  return { name: l.name, value: l.value, usage: l.usage, requested: l.requested, unit: l.unit };
}
