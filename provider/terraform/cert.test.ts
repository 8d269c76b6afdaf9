/** The go-plugin server certificate (cert.ts, @peculiar/x509): what go-plugin's host checks, read back by OpenSSL (node:crypto). */
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { generateSelfSignedCert } from './cert.js';

test('self-signed P-256 certificate for localhost and 127.0.0.1, a CA for serverAuth and clientAuth, its key in PKCS#8', async () => {
  const c = await generateSelfSignedCert({ organization: 'HashiCorp', validForMs: 3600_000 });
  const x = new X509Certificate(c.certPem);
  assert.deepEqual(Buffer.from(x.raw), c.certDer);
  assert.equal(x.subject, 'O=HashiCorp\nCN=localhost');
  assert.equal(x.issuer, x.subject, 'self-signed');
  assert.ok(x.verify(x.publicKey), 'signed by its own key');
  assert.equal(x.ca, true);
  assert.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1');
  assert.equal(x.checkHost('localhost'), 'localhost');
  assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
  assert.deepEqual(x.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  assert.ok(from <= Date.now() && from > Date.now() - 10 * 60_000, 'backdated by minutes, not more');
  assert.ok(Math.abs(to - Date.now() - 3600_000) < 60_000, 'valid for what was asked');
  assert.match(c.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.ok(x.checkPrivateKey(createPrivateKey(c.keyPem)), 'the key belongs to the certificate');
  assert.deepEqual(createPublicKey(c.keyPem).export({ format: 'der', type: 'spki' }), x.publicKey.export({ format: 'der', type: 'spki' }));
  const other = await generateSelfSignedCert();
  assert.notEqual(new X509Certificate(other.certDer).serialNumber, x.serialNumber, 'a fresh serial each time');
  assert.equal(new X509Certificate(other.certDer).subject, 'O=fcm\nCN=localhost');
});

test('names that are not plain are refused, not pasted into a DN', async () => {
  await assert.rejects(generateSelfSignedCert({ organization: 'evil, CN=example.com' }), /must be letters, digits/);
});
