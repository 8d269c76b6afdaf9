/**
 * FCM_API_HOST names the API's HTTPS host (instead of fcm.<ip>.<base domain>):
 * a real daemon and Caddy (tls internal) in a namespace serve the API there,
 * FCM_PUBLIC_URL defaults to it, and no VM may claim that name as a custom
 * domain (the API's route would shadow it, and it is the operator's name).
 * Requests use curl --resolve to the namespace address: no DNS lookup.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hostSkipReason, startHostHarness, type HostHarness } from '../helpers/host-harness.js';
import { eventually } from '../helpers/wait.js';

const skip = hostSkipReason();
const API = 'fcm.example.com';

describe('FCM_API_HOST: the API at a name of its own, which no VM can claim', { skip: skip ?? false, timeout: 10 * 60_000 }, () => {
  let h: HostHarness;
  let ca: string;

  before(async () => {
    h = await startHostHarness({ caddy: true, env: { FCM_PUBLIC_URL: '', FCM_API_HOST: API } });
    ca = await h.caddy.rootCaFile();
  });
  after(async () => {
    await h?.close();
  });

  test('the API answers over HTTPS at that name, with a certificate for it', async () => {
    const r = await eventually('the API through Caddy', async () => h.curlVia(`https://${API}/v1/health`, { cacert: ca }), (v) => v.status === 200, 60_000);
    assert.equal(JSON.parse(r.body).status, 'ok');
  });

  test('a VM cannot take the API name as a custom domain: refused at the edge, nothing made', async () => {
    const r = await h.api('POST', '/v1/vms', { name: 'squatter', domains: [API] });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.code, 'validation_failed');
    assert.match(JSON.stringify(r.body), /fcm\.example\.com is this server's own host name/);
    assert.deepEqual((await h.api('GET', '/v1/vms')).body.vms, [], 'no VM was made');
  });
});
