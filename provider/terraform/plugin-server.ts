/**
 * go-plugin server side, for a plugin process written in Node.
 *
 * Sequence (what Terraform, the go-plugin "host", expects):
 *  1. Terraform starts the plugin with TF_PLUGIN_MAGIC_COOKIE (proves we are
 *     run as a plugin), PLUGIN_PROTOCOL_VERSIONS (e.g. "5,6"),
 *     PLUGIN_CLIENT_CERT (PEM of its AutoMTLS client certificate) and
 *     optionally PLUGIN_MIN_PORT / PLUGIN_MAX_PORT.
 *  2. We listen on 127.0.0.1 (random port) with TLS: a fresh self-signed
 *     server certificate, client certificates required and verified against
 *     PLUGIN_CLIENT_CERT.
 *  3. We print ONE line on stdout:
 *       1|<app proto>|tcp|127.0.0.1:<port>|grpc|<server cert DER, base64 without padding>
 *     Nothing else may be written to stdout before it (logs go to stderr).
 *  4. Terraform connects, subscribes to GRPCStdio/GRPCBroker, uses the app
 *     service, and finally calls GRPCController.Shutdown; it kills the
 *     process if it has not exited about 2 s later.
 *
 * Terraform's Ctrl-C reaches the whole process group: like go-plugin we
 * ignore SIGINT (Terraform calls StopProvider and then Shutdown itself).
 * SIGTERM/SIGHUP shut down gracefully. Stdin is NOT watched by default:
 * go-plugin hands the plugin Terraform's own stdin, so reading it would
 * steal the user's input (e.g. the "Enter a value" approval prompt). The
 * plugin instead notices its parent going away (re-parenting).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSelfSignedCert } from './cert.js';
import { createLogger, type Logger } from './log.js';

/** Terraform's go-plugin handshake cookie (public constant, not a secret). */
export const TERRAFORM_MAGIC_COOKIE_KEY = 'TF_PLUGIN_MAGIC_COOKIE';
export const TERRAFORM_MAGIC_COOKIE_VALUE = 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2';

/** go-plugin core protocol version (first handshake field). */
export const GO_PLUGIN_CORE_PROTOCOL_VERSION = 1;

/** Options used for every .proto loaded by this package: snake_case field names, int64 as JS numbers, enums as names, bytes as Buffer. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/**
 * Directory holding the .proto files: next to this module when run from
 * source; from a compiled tree (tsc does not copy .proto files) the nearest
 * ancestor's provider/terraform/proto. FCM_TF_PROTO_DIR overrides.
 */
export function protoDir(): string {
  const override = process.env['FCM_TF_PROTO_DIR'];
  if (override) return override;
  const tried: string[] = [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (const c of [join(dir, 'proto'), join(dir, 'provider', 'terraform', 'proto')]) {
      if (existsSync(join(c, 'tfplugin6.proto'))) return c;
      tried.push(c);
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`tfplugin6.proto not found (looked in ${tried.slice(0, 4).join(', ')}, ...)`);
}

const loaded = new Map<string, grpc.GrpcObject>();

/** The single-file build (packaging/build-packages.ts) carries the .proto files parsed, as protobufjs JSON. */
declare const __FCM_TF_PROTOS__: Record<string, object> | undefined;

/** Loads one of this package's .proto files (cached). */
export function loadProto(file: 'tfplugin6.proto' | 'go-plugin.proto' | 'health.proto'): grpc.GrpcObject {
  let obj = loaded.get(file);
  if (!obj) {
    const embedded = typeof __FCM_TF_PROTOS__ === 'undefined' ? undefined : __FCM_TF_PROTOS__[file];
    const def = embedded ? protoLoader.fromJSON(embedded, PROTO_LOADER_OPTIONS) : protoLoader.loadSync(join(protoDir(), file), PROTO_LOADER_OPTIONS);
    obj = grpc.loadPackageDefinition(def);
    loaded.set(file, obj);
  }
  return obj;
}

/** Looks up a service constructor like "tfplugin6.Provider" in a loaded package. */
export function serviceDefinition(pkg: grpc.GrpcObject, dotted: string): grpc.ServiceDefinition {
  let cur: unknown = pkg;
  for (const part of dotted.split('.')) cur = (cur as Record<string, unknown>)[part];
  const ctor = cur as grpc.ServiceClientConstructor | undefined;
  if (!ctor || !ctor.service) throw new Error(`service ${dotted} not found`);
  return ctor.service;
}

export interface ServiceRegistration {
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

export interface PluginServerOptions {
  /** The application services (e.g. tfplugin6.Provider). */
  services: ServiceRegistration[];
  /** Application protocol version printed in the handshake (6 for tfplugin6). */
  appProtocolVersion: number;
  magicCookieKey?: string;
  magicCookieValue?: string;
  /** Environment to read the go-plugin variables from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Where the handshake line goes (default process.stdout). */
  writeHandshake?: (line: string) => void;
  /** Called once while shutting down, before the gRPC server closes. */
  onShutdown?: (reason: string) => void | Promise<void>;
  /** process.exit() after shutdown (default true). */
  exitOnShutdown?: boolean;
  /** Also shut down when stdin closes (default false, see file comment). */
  exitOnStdinClose?: boolean;
  /** Install SIGINT/SIGTERM/SIGHUP handlers and the parent watchdog (default true). */
  handleSignals?: boolean;
  logger?: Logger;
}

export interface PluginServer {
  port: number;
  /** The handshake line that was printed (without newline). */
  handshake: string;
  /** PEM of the server certificate (empty when running without TLS). */
  serverCertPem: string;
  /** Resolves once the server has shut down. */
  closed: Promise<void>;
  shutdown(reason: string): Promise<void>;
}

export class HandshakeError extends Error {
  override name = 'HandshakeError';
}

function parsePortRange(env: NodeJS.ProcessEnv): [number, number] | null {
  const min = Number(env['PLUGIN_MIN_PORT'] ?? '');
  const max = Number(env['PLUGIN_MAX_PORT'] ?? '');
  if (!env['PLUGIN_MIN_PORT'] || !env['PLUGIN_MAX_PORT'] || !Number.isInteger(min) || !Number.isInteger(max) || min <= 0 || max < min)
    return null;
  return [min, max];
}

function bind(server: grpc.Server, addr: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(addr, creds, (err, port) => (err ? reject(err) : resolve(port))));
}

/**
 * Starts the gRPC server, performs the go-plugin handshake on stdout and keeps
 * serving until GRPCController.Shutdown, SIGTERM or parent exit.
 */
export async function servePlugin(opts: PluginServerOptions): Promise<PluginServer> {
  const env = opts.env ?? process.env;
  const log = opts.logger ?? createLogger('plugin-server');
  const started = performance.now();

  const cookieKey = opts.magicCookieKey ?? TERRAFORM_MAGIC_COOKIE_KEY;
  const cookieValue = opts.magicCookieValue ?? TERRAFORM_MAGIC_COOKIE_VALUE;
  if (env[cookieKey] !== cookieValue) {
    throw new HandshakeError(
      'This binary is a plugin. It is not meant to be executed directly: ' +
        'execute the program that consumes it (terraform), which loads it automatically.',
    );
  }

  const offered = (env['PLUGIN_PROTOCOL_VERSIONS'] ?? '')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  if (offered.length && !offered.includes(opts.appProtocolVersion)) {
    // The host will reject the handshake; say why in its log.
    log.error('host does not offer our plugin protocol version', { offered: offered.join(','), ours: opts.appProtocolVersion });
  }

  // --- TLS ---
  const clientCertPem = env['PLUGIN_CLIENT_CERT'];
  let creds: grpc.ServerCredentials;
  let certField = '';
  let serverCertPem = '';
  if (clientCertPem) {
    const cert = await generateSelfSignedCert();
    serverCertPem = cert.certPem;
    creds = grpc.ServerCredentials.createSsl(
      Buffer.from(clientCertPem),
      [{ private_key: Buffer.from(cert.keyPem), cert_chain: Buffer.from(cert.certPem) }],
      true,
    );
    // go-plugin decodes it with base64.RawStdEncoding: standard alphabet, no padding.
    certField = cert.certDer.toString('base64').replace(/=+$/, '');
  } else {
    log.warn('PLUGIN_CLIENT_CERT not set: serving without TLS');
    creds = grpc.ServerCredentials.createInsecure();
  }

  // --- gRPC server with go-plugin's side services ---
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 256 << 20,
    'grpc.max_send_message_length': 256 << 20,
  });
  const openStreams = new Set<grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>>();
  let shuttingDown: Promise<void> | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  const goPlugin = loadProto('go-plugin.proto');
  const health = loadProto('health.proto');

  server.addService(serviceDefinition(goPlugin, 'plugin.GRPCController'), {
    Shutdown: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      log.debug('GRPCController.Shutdown');
      cb(null, {});
      setImmediate(() => void shutdown('controller shutdown'));
    },
  });
  server.addService(serviceDefinition(goPlugin, 'plugin.GRPCStdio'), {
    StreamStdio: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      // Logs go straight to stderr; keep the stream open (idle) until shutdown.
      openStreams.add(call);
      call.on('cancelled', () => openStreams.delete(call));
    },
  });
  server.addService(serviceDefinition(goPlugin, 'plugin.GRPCBroker'), {
    StartStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      openStreams.add(call);
      call.on('data', () => {});
      call.on('end', () => {
        openStreams.delete(call);
        call.end();
      });
      call.on('cancelled', () => openStreams.delete(call));
      call.on('error', () => openStreams.delete(call));
    },
  });
  server.addService(serviceDefinition(health, 'grpc.health.v1.Health'), {
    Check: (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const svc = call.request.service;
      cb(null, { status: svc === '' || svc === 'plugin' ? (shuttingDown ? 'NOT_SERVING' : 'SERVING') : 'SERVICE_UNKNOWN' });
    },
    Watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => {
      const svc = call.request.service;
      call.write({ status: svc === '' || svc === 'plugin' ? 'SERVING' : 'SERVICE_UNKNOWN' });
      openStreams.add(call);
      call.on('cancelled', () => openStreams.delete(call));
    },
  });
  for (const s of opts.services) server.addService(s.definition, s.implementation);

  // --- listen ---
  let port = 0;
  const range = parsePortRange(env);
  if (range) {
    // Start at a random offset: go-plugin walks the range from its start, and
    // several plugins starting at once (parallel terraform runs) would collide.
    let lastErr: unknown;
    const size = range[1] - range[0] + 1;
    const offset = Math.floor(Math.random() * size);
    for (let i = 0; i < Math.min(size, 200) && !port; i++) {
      const p = range[0] + ((offset + i) % size);
      try {
        port = await bind(server, `127.0.0.1:${p}`, creds);
      } catch (e) {
        lastErr = e;
      }
    }
    if (!port) throw new Error(`no free port in ${range[0]}-${range[1]}: ${String(lastErr)}`);
  } else {
    port = await bind(server, '127.0.0.1:0', creds);
  }

  const fields = [String(GO_PLUGIN_CORE_PROTOCOL_VERSION), String(opts.appProtocolVersion), 'tcp', `127.0.0.1:${port}`, 'grpc'];
  if (certField) fields.push(certField);
  const handshake = fields.join('|');

  // --- lifecycle ---
  const cleanups: (() => void)[] = [];
  async function shutdown(reason: string): Promise<void> {
    if (shuttingDown) return shuttingDown;
    shuttingDown = (async () => {
      log.debug('plugin shutting down', { reason });
      for (const c of cleanups) c();
      try {
        await opts.onShutdown?.(reason);
      } catch (e) {
        log.warn('shutdown hook failed', { error: e });
      }
      for (const s of openStreams) {
        try {
          s.end();
        } catch {
          /* stream already gone */
        }
      }
      openStreams.clear();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1500);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      resolveClosed();
      if (opts.exitOnShutdown ?? true) {
        // Let stderr drain, then leave (handles kept by grpc must not keep us alive).
        process.stderr.write('', () => process.exit(0));
        setTimeout(() => process.exit(0), 200).unref();
      }
    })();
    return shuttingDown;
  }

  if (opts.handleSignals ?? true) {
    let interrupts = 0;
    const onInt = (): void => {
      interrupts++;
      log.debug('received interrupt signal, ignoring (the host stops providers itself)', { count: interrupts });
    };
    const onTerm = (sig: string) => (): void => void shutdown(sig);
    const term = onTerm('SIGTERM');
    const hup = onTerm('SIGHUP');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', term);
    process.on('SIGHUP', hup);
    const parent = process.ppid;
    const watchdog = setInterval(() => {
      if (process.ppid !== parent) void shutdown('parent process exited');
    }, 1000);
    watchdog.unref();
    cleanups.push(() => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', term);
      process.off('SIGHUP', hup);
      clearInterval(watchdog);
    });
  }
  if (opts.exitOnStdinClose) {
    const onEnd = (): void => void shutdown('stdin closed');
    process.stdin.on('end', onEnd);
    process.stdin.on('close', onEnd);
    process.stdin.resume();
    cleanups.push(() => {
      process.stdin.off('end', onEnd);
      process.stdin.off('close', onEnd);
      process.stdin.pause();
    });
  }

  (opts.writeHandshake ?? ((l: string) => process.stdout.write(l)))(handshake + '\n');
  log.debug('plugin server listening', { port, tls: !!certField, startup_ms: Math.round(performance.now() - started) });

  return { port, handshake, serverCertPem, closed, shutdown };
}
