import type { KeyService } from '../../core/keys.js';
import type { Handler } from '../server.js';

/** Thin handlers for the `keys` tag. */
export function keyHandlers(keys: KeyService): Record<string, Handler> {
  return {
    listKeys: ({ principal }) => ({ keys: keys.list(principal) }),
    createKeyChallenge: ({ principal, body }) => keys.challenge(principal, body.publicKey),
    addKey: ({ principal, body }) => keys.add(principal, { publicKey: body.publicKey, name: body.name, challenge: body.challenge, signature: body.signature }),
    removeKey: ({ principal, params }) => {
      keys.remove(principal, params.id);
    },
  };
}
