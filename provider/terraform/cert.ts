/**
 * Self-signed TLS certificate for the go-plugin AutoMTLS handshake, built with
 * @peculiar/x509 (a maintained X.509 builder over WebCrypto: node:crypto can
 * sign but has no certificate builder).
 *
 * What the host (go-plugin inside Terraform) needs from the server certificate:
 *  - it is parsed from the handshake line (base64 DER) and put in the host's
 *    RootCAs, so a self-signed certificate is its own chain;
 *  - the host dials with ServerName "localhost", so a DNS SAN "localhost" is
 *    required (Go ignores the CN for host name checks);
 *  - if extKeyUsage is present it must contain serverAuth.
 * go-plugin's own certificates additionally are CA certificates with
 * keyCertSign; we mirror that so the same certificate could serve as a client
 * certificate root too.
 */
import { KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export interface SelfSignedCert {
  /** PEM encoded certificate. */
  certPem: string;
  /** PEM encoded PKCS#8 private key. */
  keyPem: string;
  /** Raw DER bytes of the certificate. */
  certDer: Buffer;
}

export interface CertOptions {
  commonName?: string;
  organization?: string;
  /** Validity; default 30 days (the certificate lives as long as one plugin process). */
  validForMs?: number;
}

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** X.500 name values: the builder parses a string DN, so only plain values are accepted here. */
function dnValue(s: string): string {
  if (!/^[A-Za-z0-9 ._-]{1,64}$/.test(s)) throw new Error(`certificate name "${s}" must be letters, digits, space, dot, dash or underscore`);
  return s;
}

/** Generates an ECDSA P-256 key and a self-signed certificate for localhost / 127.0.0.1. */
export async function generateSelfSignedCert(opts: CertOptions = {}): Promise<SelfSignedCert> {
  const crypto = webcrypto as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[1];
  const keys = (await webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive, no leading zero byte
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: `O=${dnValue(opts.organization ?? 'fcm')}, CN=${dnValue(opts.commonName ?? 'localhost')}`,
      // Backdated a little so small clock differences between processes never matter.
      notBefore: new Date(Date.now() - 5 * 60_000),
      notAfter: new Date(Date.now() + (opts.validForMs ?? 30 * 24 * 3600_000)),
      signingAlgorithm: ECDSA_P256,
      keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyCertSign, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.SubjectAlternativeNameExtension(
          [
            { type: 'dns', value: 'localhost' },
            { type: 'ip', value: '127.0.0.1' },
          ],
          false,
        ),
      ],
    },
    crypto,
  );
  const certDer = Buffer.from(cert.rawData);

  // Self-check: node (OpenSSL) must parse it and the signature must verify.
  const publicKey = KeyObject.from(keys.publicKey);
  if (!new X509Certificate(certDer).verify(publicKey)) throw new Error('generated certificate does not verify');

  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const b64 = (der: Buffer) => der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return {
    certDer,
    certPem: `-----BEGIN CERTIFICATE-----\n${b64(certDer)}\n-----END CERTIFICATE-----\n`,
    keyPem: `-----BEGIN PRIVATE KEY-----\n${b64(pkcs8)}\n-----END PRIVATE KEY-----\n`,
  };
}
