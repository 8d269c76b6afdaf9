/**
 * Plays the Pulumi engine against Pulumi's real dynamic-provider host
 * (@pulumi/pulumi/cmd/dynamic-provider, what `pulumi up` runs as
 * pulumi-resource-pulumi-nodejs): starts it, reads the gRPC port it prints,
 * and calls pulumirpc.ResourceProvider with the messages the engine sends.
 * Resource inputs carry the serialized provider in `__provider`, made by the
 * same serializer `new pulumi.dynamic.Resource(...)` uses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';

const require = createRequire(import.meta.url);
const PULUMI_DIR = dirname(require.resolve('@pulumi/pulumi/package.json'));
// The host's own copies of grpc-js and the generated messages, so classes match what it checks with instanceof.
const grpc = require(require.resolve('@grpc/grpc-js', { paths: [PULUMI_DIR] })) as typeof import('@grpc/grpc-js');
const provrpc = require('@pulumi/pulumi/proto/provider_grpc_pb') as Record<string, any>;
const provproto = require('@pulumi/pulumi/proto/provider_pb') as Record<string, any>;
const structproto = require('google-protobuf/google/protobuf/struct_pb') as Record<string, any>;

export const HOST_ENTRY = join(PULUMI_DIR, 'cmd', 'dynamic-provider', 'index.js');
/** Pulumi's marker for a secret value on the wire (runtime/rpc.ts specialSigKey/specialSecretSig). */
export const SECRET_SIG = { '4dabf18193072939515e22adb298388d': '1b47061264138c4ac30d75fd1eb44270' };
export const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

export type Props = Record<string, unknown>;

/** What `new pulumi.dynamic.Resource(provider, ...)` stores in `__provider`. */
export async function serializeProvider(provider: object): Promise<string> {
  const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  return sf.text;
}

export interface GrpcFailure {
  code: number;
  details: string;
  /** ErrorResourceInitFailed from the status details, when the host sent one (create/update failed after the object existed). */
  initFailed?: { id: string; properties: Props; reasons: string[] };
}

export class EngineError extends Error {
  constructor(
    method: string,
    readonly failure: GrpcFailure,
  ) {
    super(`${method}: ${failure.details}`);
  }
}

export interface DynamicHost {
  port: number;
  child: ChildProcess;
  stderr: () => string;
  configure(config: Props): Promise<void>;
  check(urn: string, olds: Props, news: Props): Promise<{ inputs: Props; failures: { property: string; reason: string }[] }>;
  diff(urn: string, id: string, olds: Props, news: Props): Promise<{ changes: 'DIFF_UNKNOWN' | 'DIFF_NONE' | 'DIFF_SOME'; replaces: string[]; stables: string[]; deleteBeforeReplace: boolean }>;
  create(urn: string, props: Props, timeoutSeconds?: number): Promise<{ id: string; properties: Props }>;
  read(urn: string, id: string, props: Props): Promise<{ id: string; properties: Props }>;
  update(urn: string, id: string, olds: Props, news: Props, timeoutSeconds?: number): Promise<{ properties: Props }>;
  delete(urn: string, id: string, props: Props): Promise<void>;
  close(): Promise<void>;
}

export async function startDynamicHost(opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<DynamicHost> {
  // The engine passes its own address; the dynamic host only requires that it is present.
  const child = spawn(process.execPath, [HOST_ENTRY, '127.0.0.1:1'], {
    cwd: opts.cwd ?? process.cwd(),
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`dynamic provider host printed no port in 30s; stderr:\n${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dynamic provider host exited with ${code}; stderr:\n${err}`));
    });
  });
  const client = new provrpc['ResourceProviderClient'](`127.0.0.1:${port}`, grpc.credentials.createInsecure());

  const struct = (o: Props) => structproto['Struct'].fromJavaScript(o);
  const call = <T>(method: string, req: unknown): Promise<T> =>
    new Promise((resolve, reject) => {
      client[method](req, (e: (Error & { code: number; details: string; metadata?: any }) | null, res: T) => {
        if (!e) return resolve(res);
        const failure: GrpcFailure = { code: e.code, details: e.details };
        const bin = e.metadata?.get?.('grpc-status-details-bin')?.[0] as Buffer | undefined;
        if (bin) {
          const statusproto = require('@pulumi/pulumi/proto/status_pb') as Record<string, any>;
          for (const any of statusproto['Status'].deserializeBinary(bin).getDetailsList()) {
            const d = provproto['ErrorResourceInitFailed'].deserializeBinary(any.getValue_asU8());
            failure.initFailed = { id: d.getId(), properties: d.getProperties()?.toJavaScript() ?? {}, reasons: d.getReasonsList() };
          }
        }
        reject(new EngineError(method, failure));
      });
    });

  return {
    port,
    child,
    stderr: () => err,
    async configure(config) {
      const req = new provproto['ConfigureRequest']();
      req.setArgs(struct(config));
      req.setAcceptsecrets(true);
      req.setAcceptresources(true);
      await call('configure', req);
    },
    async check(urn, olds, news) {
      const req = new provproto['CheckRequest']();
      req.setUrn(urn);
      req.setOlds(struct(olds));
      req.setNews(struct(news));
      const res = await call<any>('check', req);
      return {
        inputs: res.getInputs()?.toJavaScript() ?? {},
        failures: res.getFailuresList().map((f: any) => ({ property: f.getProperty(), reason: f.getReason() })),
      };
    },
    async diff(urn, id, olds, news) {
      const req = new provproto['DiffRequest']();
      req.setUrn(urn);
      req.setId(id);
      req.setOlds(struct(olds));
      req.setNews(struct(news));
      const res = await call<any>('diff', req);
      const names: Record<number, 'DIFF_UNKNOWN' | 'DIFF_NONE' | 'DIFF_SOME'> = { 0: 'DIFF_UNKNOWN', 1: 'DIFF_NONE', 2: 'DIFF_SOME' };
      return {
        changes: names[res.getChanges()]!,
        replaces: res.getReplacesList(),
        stables: res.getStablesList(),
        deleteBeforeReplace: res.getDeletebeforereplace(),
      };
    },
    async create(urn, props, timeoutSeconds = 600) {
      const req = new provproto['CreateRequest']();
      req.setUrn(urn);
      req.setProperties(struct(props));
      req.setTimeout(timeoutSeconds);
      const res = await call<any>('create', req);
      return { id: res.getId(), properties: res.getProperties()?.toJavaScript() ?? {} };
    },
    async read(urn, id, props) {
      const req = new provproto['ReadRequest']();
      req.setUrn(urn);
      req.setId(id);
      req.setProperties(struct(props));
      const res = await call<any>('read', req);
      return { id: res.getId(), properties: res.getProperties()?.toJavaScript() ?? {} };
    },
    async update(urn, id, olds, news, timeoutSeconds = 600) {
      const req = new provproto['UpdateRequest']();
      req.setUrn(urn);
      req.setId(id);
      req.setOlds(struct(olds));
      req.setNews(struct(news));
      req.setTimeout(timeoutSeconds);
      const res = await call<any>('update', req);
      return { properties: res.getProperties()?.toJavaScript() ?? {} };
    },
    async delete(urn, id, props) {
      const req = new provproto['DeleteRequest']();
      req.setUrn(urn);
      req.setId(id);
      req.setProperties(struct(props));
      await call('delete', req);
    },
    async close() {
      client.close();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    },
  };
}
