import { PassThrough } from 'node:stream';
import type { DeployService } from '../../core/deploys.js';
import type { ReleaseRecord } from '../../core/ports/releases.js';
import { watchStall } from '../backpressure.js';
import type { Handler } from '../server.js';

/** API shape of a release (openapi.yaml `Release`); the build log only where asked (getRelease). */
export function toApiRelease(r: ReleaseRecord, withLog = false) {
  return {
    version: r.version,
    status: r.status,
    kind: r.kind,
    commit: r.commit,
    description: r.description,
    buildpack: r.buildpack,
    processes: r.processes,
    rollbackOf: r.rollbackOf,
    ...(withLog ? { log: r.log } : {}),
    createdAt: r.createdAt,
    finishedAt: r.finishedAt,
  };
}

/** Thin handlers for the `deploys` tag: one service call each. */
export function deployHandlers(deploys: DeployService, o: { clientStallMs?: number } = {}): Record<string, Handler> {
  const stallMs = o.clientStallMs ?? 60_000;
  return {
    listReleases: ({ principal, params }) => ({ releases: deploys.listReleases(principal, params.name).map((r) => toApiRelease(r)) }),
    getRelease: ({ principal, params }) => toApiRelease(deploys.getRelease(principal, params.name, params.version), true),
    rollbackVm: async ({ principal, params, body }) => toApiRelease(await deploys.rollback(principal, params.name, body.version)),
    getEnv: ({ principal, params }) => ({ vars: deploys.getEnv(principal, params.name), release: null }),
    updateEnv: ({ principal, params, body }) => deploys.updateEnv(principal, params.name, { set: body.set, unset: body.unset }),
    getLogs: async ({ principal, params, query, req, reply }) => {
      // The stream ends when the client goes away ('close' on the response).
      const ac = new AbortController();
      reply.raw.once('close', () => {
        ac.abort();
        // (A forwarded follow ends here when the client of the host that relayed it went away.)
        if (query.follow) req.log.info({ forwardedBy: req.forwardedBy }, 'logs -f ended');
      });
      const stream = await deploys.logs(principal, params.name, { lines: query.lines, follow: query.follow }, ac.signal);
      // An aborted follow (client gone, VM stopped) makes the upstream stream error out; hand
      // fastify a stream that just ends instead, or it tries to send a 500 after the headers.
      // Piped end to end, so a slow client pauses the agent's stream; a client that takes nothing
      // for stallMs while output waits is cut off (a follow would otherwise hold the guest's stream forever).
      const out = new PassThrough();
      stream.on('error', () => out.end());
      stream.pipe(out);
      watchStall(reply.raw, stallMs, () => {
        ac.abort();
        reply.raw.destroy();
        stream.destroy();
      });
      reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').header('x-content-type-options', 'nosniff');
      return reply.send(out);
    },
  };
}
