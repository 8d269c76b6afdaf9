/**
 * A `fetch` that also trusts one extra CA (a PEM file's certificates, added
 * to Node's bundled roots), for an fcm server whose certificate comes from
 * a private CA (Caddy's internal CA under FCM_TLS=internal); with no PEM,
 * Node's roots only. Verification is never turned off: the certificate must
 * chain to a trusted root and match the host name.
 *
 * One connection per request (no keep-alive): the server's Caddy replaces
 * its config whenever a VM changes state, and closes idle connections when
 * it does; a request written onto a kept-alive connection at that moment
 * dies with "socket hang up" (seen with `fcm create`'s wait right after the
 * create). A client makes few requests, so a TLS handshake each is cheap.
 *
 * Node's built-in fetch cannot be given a CA without a dependency (undici's
 * Agent) or a process-wide setting read at start-up (NODE_EXTRA_CA_CERTS),
 * so this is a small fetch over node:http(s): what the typed client needs
 * (method, headers, a buffered request body, a streamed response body,
 * AbortSignal). Errors look like the built-in's (TypeError('fetch failed')
 * with the socket error as `cause`), so api/errors.ts reads both alike.
 *
 * SERIALIZATION CONTRACT (Pulumi, see provider/vm-resource.ts): built-ins
 * are taken at call time through process.getBuiltinModule.
 */

/** Node's roots plus the PEM's certificates, as `ca` for https/tls/ws options. */
export function trustedCas(pem: string): string[] {
  const tls = process.getBuiltinModule('node:tls');
  return [...tls.rootCertificates, pem];
}

/** Reads a CA file (PEM); throws with a message that names the file when it cannot be used. */
export function readCaFile(path: string): string {
  const fs = process.getBuiltinModule('node:fs');
  let pem: string;
  try {
    pem = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read the CA file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(pem)) throw new Error(`the CA file ${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return pem;
}

export function caFetch(pem: string | null): typeof globalThis.fetch {
  const ca = pem ? trustedCas(pem) : undefined;
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const http = process.getBuiltinModule('node:http');
    const https = process.getBuiltinModule('node:https');
    const { Readable } = process.getBuiltinModule('node:stream');
    const req = new Request(input, init);
    const url = new URL(req.url);
    const body = req.body ? Buffer.from(await req.arrayBuffer()) : null;
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => (headers[k] = v));
    if (body) headers['content-length'] = String(body.length);
    return new Promise<Response>((resolve, reject) => {
      const fail = (e: unknown) => {
        const err = e as Error;
        reject(err?.name === 'AbortError' ? err : new TypeError('fetch failed', { cause: err }));
      };
      const options = { method: req.method, headers, signal: req.signal, agent: false as const };
      const onResponse = (res: import('node:http').IncomingMessage) => {
        const h = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const status = res.statusCode ?? 502;
        const noBody = req.method === 'HEAD' || status === 204 || status === 205 || status === 304;
        if (noBody) res.resume();
        // A body read later can still fail (connection reset): the stream errors, as fetch's does.
        resolve(new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? '', headers: h }));
      };
      const r = url.protocol === 'https:' ? https.request(url, { ...options, ...(ca ? { ca } : {}) }, onResponse) : http.request(url, options, onResponse);
      r.on('error', fail);
      r.end(body ?? undefined);
    });
  };
}
