/**
 * One HTTP(S) request with node's own client (no pooling, no redirects), the
 * body read as text: what host tests use to reach guests, agents and Caddy
 * at an exact address while naming another host (SNI and Host header).
 */
import { request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { SecureContextOptions } from 'node:tls';

export interface TextResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export type TextRequest = RequestOptions & Pick<SecureContextOptions, 'ca'> & { https?: boolean; servername?: string; body?: string | Buffer };

export function httpText(o: TextRequest): Promise<TextResponse> {
  const { https, body, ...opts } = o;
  return new Promise((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)({ agent: false, ...opts }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
