import { FcmError } from '../../core/errors.js';
import type { Handler } from '../server.js';

/**
 * Operations declared in openapi.yaml whose feature has not landed in this
 * build: they answer 501 not_implemented (a problem document saying so),
 * never a fake success. Remove an entry when its handler is wired in.
 */
const PENDING: Record<string, string> = {};

export function pendingHandlers(implemented: Record<string, unknown>, operationIds: string[]): Record<string, Handler> {
  const out: Record<string, Handler> = {};
  for (const id of operationIds) {
    if (id in implemented) continue;
    out[id] = () => {
      throw new FcmError('not_implemented', `${id} is not available in this fcm build yet${PENDING[id] ? ` (${PENDING[id]})` : ''}.`);
    };
  }
  return out;
}
