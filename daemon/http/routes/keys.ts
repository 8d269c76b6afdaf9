import type { KeyService } from '../../core/keys.js';
import type { Handler } from '../server.js';

/** Thin handlers for the `keys` tag. */
export function keyHandlers(keys: KeyService): Record<string, Handler> {
  return {
    listKeys: ({ principal }) => ({ keys: keys.list(principal) }),
    addKey: ({ principal, body }) => keys.add(principal, { publicKey: body.publicKey, name: body.name }),
    removeKey: ({ principal, params }) => {
      keys.remove(principal, params.id);
    },
  };
}
