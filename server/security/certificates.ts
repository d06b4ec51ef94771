/**
 * The device's TLS certificate: self-signed at first boot (the device's host names and addresses as
 * subject alternative names), or one the admin uploads. The key file is private (0600).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Worker } from 'node:worker_threads';
import type { CertificateRequest } from './certificate-worker.js';

export interface CertificatePair {
  cert: string;
  key: string;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  altNames: string[];
  validFrom: string;
  validTo: string;
  fingerprint256: string;
  selfSigned: boolean;
}

export type CertificateProblem = 'tls.badCertificate' | 'tls.badKey' | 'tls.mismatch' | 'tls.expired' | 'tls.notServer' | 'tls.unusable';

export class CertificateError extends Error {
  constructor(readonly problem: CertificateProblem) {
    super(problem);
  }
}

const VALID_YEARS = 5;

/** The names a browser may use to reach this device. */
export function deviceNames(bindHost: string): { dns: string[]; ips: string[] } {
  const dns = new Set(['localhost', os.hostname()]);
  const ips = new Set(['127.0.0.1', '::1']);
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) ips.add(address.address.replace(/%.*$/, ''));
  }
  if (bindHost && !['0.0.0.0', '::'].includes(bindHost)) (/^[\d.]+$|:/.test(bindHost) ? ips : dns).add(bindHost);
  return { dns: [...dns].filter(Boolean), ips: [...ips] };
}

/** Checks an uploaded pair: both parse, the key belongs to the certificate, and it is valid now. */
export function validatePair(pair: CertificatePair, now = new Date()): crypto.X509Certificate {
  let certificate: crypto.X509Certificate;
  try {
    certificate = new crypto.X509Certificate(pair.cert);
  } catch {
    throw new CertificateError('tls.badCertificate');
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pair.key);
  } catch {
    throw new CertificateError('tls.badKey');
  }
  if (!certificate.checkPrivateKey(key)) throw new CertificateError('tls.mismatch');
  if (new Date(certificate.validTo) <= now || new Date(certificate.validFrom) > now) throw new CertificateError('tls.expired');
  if (certificate.ca) throw new CertificateError('tls.notServer');
  // What the HTTPS server will do with it: OpenSSL refuses e.g. a SHA-1 signature, and a pair saved
  // before that is found would fail the page now and every start after.
  try {
    tls.createSecureContext(pair);
  } catch {
    throw new CertificateError('tls.unusable');
  }
  return certificate;
}

export function describe(pem: string): CertificateInfo {
  const certificate = new crypto.X509Certificate(pem);
  return {
    subject: certificate.subject.replace(/\n/g, ', '),
    issuer: certificate.issuer.replace(/\n/g, ', '),
    altNames: (certificate.subjectAltName ?? '').split(', ').filter(Boolean),
    validFrom: new Date(certificate.validFrom).toISOString(),
    validTo: new Date(certificate.validTo).toISOString(),
    fingerprint256: certificate.fingerprint256,
    // Signed by its own key. (checkIssued() says no for the device's own certificate: OpenSSL also
    // wants the issuer to be allowed to sign certificates, which a server certificate is not.)
    selfSigned: certificate.subject === certificate.issuer && certificate.verify(certificate.publicKey),
  };
}

export class CertificateStore {
  readonly #certFile: string;
  readonly #keyFile: string;
  #pair: CertificatePair;
  /** Parsed once per pair: the security headers ask on every request whether it is self-signed. */
  #info: CertificateInfo | undefined;

  private constructor(dir: string, pair: CertificatePair) {
    this.#certFile = path.join(dir, 'cert.pem');
    this.#keyFile = path.join(dir, 'key.pem');
    this.#pair = pair;
  }

  /** Opens the stored certificate, creating a self-signed one at first boot. */
  static async open(dataDir: string, bindHost: string): Promise<CertificateStore> {
    const dir = path.join(dataDir, 'tls');
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    if (fs.existsSync(certFile) && fs.existsSync(keyFile)) {
      return new CertificateStore(dir, { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8') });
    }
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const store = new CertificateStore(dir, await selfSigned(bindHost));
    store.#write();
    return store;
  }

  get pair(): CertificatePair {
    return this.#pair;
  }

  info(): CertificateInfo {
    return (this.#info ??= describe(this.#pair.cert));
  }

  /** Replaces the certificate with an uploaded pair; a bad pair throws and changes nothing. */
  replace(pair: CertificatePair): CertificateInfo {
    validatePair(pair);
    this.#pair = { cert: pair.cert.trim() + '\n', key: pair.key.trim() + '\n' };
    this.#info = undefined;
    this.#write();
    return this.info();
  }

  /** Back to a fresh self-signed certificate (e.g. after the device's address changed). */
  async regenerate(bindHost: string): Promise<CertificateInfo> {
    this.#pair = await selfSigned(bindHost);
    this.#info = undefined;
    this.#write();
    return this.info();
  }

  #write(): void {
    // Key first and atomically, so a crash never leaves a certificate without its key.
    writeAtomic(this.#keyFile, this.#pair.key, 0o600);
    writeAtomic(this.#certFile, this.#pair.cert, 0o644);
  }
}

function writeAtomic(file: string, content: string, mode: number): void {
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, content, { mode });
  fs.renameSync(temp, file);
}

/** Made in a short-lived worker, so that the X.509 code does not stay in the device's heap. */
function selfSigned(bindHost: string): Promise<CertificatePair> {
  const names = deviceNames(bindHost);
  const request: CertificateRequest = { commonName: names.dns.find((name) => name !== 'localhost') ?? 'localhost', dns: names.dns, ips: names.ips, validYears: VALID_YEARS };
  const worker = new Worker(new URL('./certificate-worker.js', import.meta.url), { workerData: request });
  return new Promise((resolve, reject) => {
    worker.once('message', (pair: CertificatePair) => resolve(pair));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`certificate worker ended (exit code ${code}) without a certificate`)));
  });
}
