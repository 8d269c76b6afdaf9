/**
 * Git smart HTTP for the public `/git/<app>.git/…` routes: streams the
 * request body to git and git's answer to the client. The route has
 * authorized the request before; this only speaks git. Real driver:
 * GitHttpBackend (drivers/git/http-backend.ts, `git http-backend`);
 * exercised end to end over real HTTP in test/e2e/deploy-git.test.ts (a twin
 * would have to speak git's pack protocol, which is git's job).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';


/** One git smart HTTP request the daemon has authenticated and authorized. */
export interface GitHttpRequest {
  /** The authorized repository (PushGrant.repo). */
  repo: string;
  /** What follows `<app>.git/` in the URL: `info/refs`, `git-upload-pack` or `git-receive-pack`. */
  path: string;
  /** Who pushes or fetches (git enables receive-pack only for an authenticated user). */
  remoteUser: string;
  /** The push ticket the pre-receive hook presents (receive-pack only). */
  ticket: string | null;
}

export interface GitSmartHttp {
  serve(req: IncomingMessage, res: ServerResponse, r: GitHttpRequest): Promise<void>;
  /**
   * git's own protocol over one byte stream, as over SSH (`git receive-pack <repo>` with the
   * stream as its stdin and stdout): the git tunnel another host of the cluster relays a push
   * over SSH through. Resolves with git's exit code once it ended (the stream is then ended).
   */
  tunnel(stream: Duplex, r: { repo: string; service: 'receive-pack' | 'upload-pack'; ticket: string | null }): Promise<number>;
}
