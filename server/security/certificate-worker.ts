/**
 * Makes the device's self-signed certificate in a worker thread (see selfSigned in certificates.ts):
 * selfsigned and its X.509/ASN.1 code (about 5 MB of heap) live in the worker's own heap, which is
 * given back when the worker ends, instead of staying in the device's for the rest of its life.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { generate } from 'selfsigned';

export interface CertificateRequest {
  commonName: string;
  dns: string[];
  ips: string[];
  validYears: number;
}

const { commonName, dns, ips, validYears } = workerData as CertificateRequest;
const now = new Date();
const result = await generate([{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'MFP device (self-signed)' }], {
  keyType: 'ec',
  curve: 'P-256',
  algorithm: 'sha256',
  notBeforeDate: new Date(now.getTime() - 60_000),
  notAfterDate: new Date(now.getTime() + validYears * 365 * 24 * 3600 * 1000),
  extensions: [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [...dns.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))] },
  ],
});
parentPort!.postMessage({ cert: result.cert, key: result.private });
