import { randomInt } from 'node:crypto';
import { randomId } from './ids.js';

const ADJECTIVES = [
  'amber', 'ancient', 'autumn', 'bold', 'brave', 'bright', 'calm', 'clever', 'cosmic', 'crimson',
  'crisp', 'dawn', 'eager', 'electric', 'fancy', 'fierce', 'gentle', 'golden', 'grand', 'happy',
  'hidden', 'icy', 'jolly', 'keen', 'lively', 'lucky', 'lunar', 'mellow', 'misty', 'noble',
  'polar', 'proud', 'quiet', 'rapid', 'royal', 'rustic', 'shiny', 'silent', 'silver', 'solar',
  'stellar', 'stormy', 'sunny', 'swift', 'tidy', 'twilight', 'velvet', 'vivid', 'wild', 'witty',
];
const NOUNS = [
  'anchor', 'aurora', 'badger', 'beacon', 'breeze', 'canyon', 'cedar', 'comet', 'coral', 'crane',
  'delta', 'dune', 'ember', 'falcon', 'fern', 'fjord', 'forest', 'galaxy', 'glacier', 'harbor',
  'heron', 'island', 'lagoon', 'lantern', 'maple', 'meadow', 'meteor', 'nebula', 'nova', 'oasis',
  'orbit', 'otter', 'pebble', 'phoenix', 'pine', 'planet', 'prairie', 'quasar', 'raven', 'reef',
  'river', 'rocket', 'sparrow', 'summit', 'thunder', 'tundra', 'valley', 'voyage', 'willow', 'zephyr',
];

/** A random adjective-noun name such as `cosmic-nova` (2,500 combinations). */
export function randomName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}`;
}

/** After repeated collisions: the same shape plus a short number, e.g. `cosmic-nova-4821`. */
export function randomNameWithSuffix(): string {
  return `${randomName()}-${randomInt(1000, 10000)}`;
}

export function newVmId(): string {
  return randomId('vm');
}
