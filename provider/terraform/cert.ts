/**
 * Self-signed TLS certificate for the go-plugin AutoMTLS handshake, built with
 * node:crypto only (node can sign but has no certificate builder, so the
 * X.509 structure is DER-encoded by hand here).
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
import { generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';

export interface SelfSignedCert {
  /** PEM encoded certificate. */
  certPem: string;
  /** PEM encoded PKCS#8 private key. */
  keyPem: string;
  /** Raw DER bytes of the certificate. */
  certDer: Buffer;
}

// ---- minimal DER encoder -------------------------------------------------

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n >>>= 8;
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);

function integer(bytes: Buffer): Buffer {
  let b = bytes;
  while (b.length > 1 && b[0] === 0 && (b[1]! & 0x80) === 0) b = b.subarray(1);
  if ((b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    let v = Math.floor(p / 128);
    while (v > 0) {
      chunk.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const pad = (n: number): string => String(n).padStart(2, '0');
  const body =
    pad(d.getUTCMonth() + 1) + pad(d.getUTCDate()) + pad(d.getUTCHours()) + pad(d.getUTCMinutes()) + pad(d.getUTCSeconds()) + 'Z';
  const y = d.getUTCFullYear();
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050 on.
  return y < 2050 ? tlv(0x17, Buffer.from(pad(y % 100) + body, 'ascii')) : tlv(0x18, Buffer.from(String(y) + body, 'ascii'));
}

const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const bitString = (unused: number, bytes: Buffer): Buffer => tlv(0x03, Buffer.from([unused]), bytes);
const octetString = (b: Buffer): Buffer => tlv(0x04, b);
const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
const TRUE = tlv(0x01, Buffer.from([0xff]));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), TRUE, octetString(value)) : seq(oid(id), octetString(value));
}

// ---- certificate -----------------------------------------------------------

export interface CertOptions {
  commonName?: string;
  organization?: string;
  /** Validity; default 30 days (the certificate lives as long as one plugin process). */
  validForMs?: number;
}

/** Generates an ECDSA P-256 key and a self-signed certificate for localhost / 127.0.0.1. */
export function generateSelfSignedCert(opts: CertOptions = {}): SelfSignedCert {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));

  const name = seq(
    set(seq(oid('2.5.4.10'), utf8(opts.organization ?? 'fcm'))),
    set(seq(oid('2.5.4.3'), utf8(opts.commonName ?? 'localhost'))),
  );
  // Backdated a little so small clock differences between processes never matter.
  const notBefore = new Date(Date.now() - 5 * 60_000);
  const notAfter = new Date(Date.now() + (opts.validForMs ?? 30 * 24 * 3600_000));

  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f; // positive
  if (serial[0] === 0) serial[0] = 1;

  const extensions = seq(
    // keyUsage: digitalSignature(0), keyEncipherment(2), keyCertSign(5) -> 1010 0100, 2 unused bits
    extension('2.5.29.15', true, bitString(2, Buffer.from([0xa4]))),
    // extKeyUsage: serverAuth, clientAuth
    extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'))),
    // basicConstraints: cA TRUE
    extension('2.5.29.19', true, seq(TRUE)),
    // subjectAltName: DNS localhost, IP 127.0.0.1
    extension('2.5.29.17', false, seq(tlv(0x82, Buffer.from('localhost', 'ascii')), tlv(0x87, Buffer.from([127, 0, 0, 1])))),
  );

  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ecdsaWithSha256,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    spki,
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey); // DER-encoded ECDSA-Sig-Value
  const certDer = seq(tbs, ecdsaWithSha256, bitString(0, signature));

  // Self-check: node (OpenSSL) must parse it and the signature must verify.
  const x509 = new X509Certificate(certDer);
  if (!x509.verify(publicKey)) throw new Error('generated certificate does not verify');

  const b64 = certDer.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return {
    certDer,
    certPem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}
