/** Config: the API behind Caddy by default (FCM_API_HOST), the plain listener on loopback (FCM_HOST_BIND). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../daemon/config.js';

test('defaults: the plain listener binds loopback only; the API goes through Caddy at its default name; no public URL fixed yet', () => {
  const c = loadConfig({});
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 7777 });
  assert.deepEqual(c.api, { proxied: true, host: null });
  assert.equal(c.publicUrl, null, 'main.ts derives https://fcm.<ip>.<base domain> once it knows the public IP');
});

test('FCM_API_HOST: a DNS name (lower-cased), or off; anything else is refused', () => {
  assert.deepEqual(loadConfig({ FCM_API_HOST: 'FCM.Example.com' }).api, { proxied: true, host: 'fcm.example.com' });
  assert.deepEqual(loadConfig({ FCM_API_HOST: 'off' }).api, { proxied: false, host: null });
  for (const bad of ['http://fcm.example.com', 'fcm', 'a b.example.com', '1.2.3.4', 'fcm.example.com:8443']) {
    assert.throws(() => loadConfig({ FCM_API_HOST: bad }), (e) => e instanceof ConfigError && /FCM_API_HOST must be a DNS name/.test(e.message), bad);
  }
});

test('FCM_HOST_BIND and FCM_PUBLIC_URL still override', () => {
  const c = loadConfig({ FCM_HOST_BIND: '0.0.0.0', FCM_PUBLIC_URL: 'http://10.0.0.5:7777/' });
  assert.equal(c.listen.host, '0.0.0.0');
  assert.equal(c.publicUrl, 'http://10.0.0.5:7777');
});
