/** HTTPS on the device: a self-signed certificate at first boot, HTTP redirects, uploads are checked. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'node:test';
import { generate } from 'selfsigned';
import { csrfTokenOf, PanelClient, textOf } from '../../../firmware-sim/panel-client.js';
import { ADMIN_PASSWORD, bootDevice } from '../../helpers/device.js';

function get(url: string, ca: string): Promise<{ status: number; body: string; peer: tls.PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca, servername: 'localhost' }, (response) => {
      const peer = (response.socket as tls.TLSSocket).getPeerCertificate();
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, peer }));
    });
    request.on('error', reject);
  });
}

/** The certificate the HTTPS port presents right now. */
function servedFingerprint(httpsUrl: string): Promise<string> {
  const url = new URL(httpsUrl);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: url.hostname, port: Number(url.port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('first boot makes a self-signed certificate for the device\'s names; the panel answers over TLS with it; HTTP redirects', async () => {
  const device = await bootDevice(undefined, { MFP_ALLOW_HTTP: '' });
  try {
    const certPem = fs.readFileSync(path.join(device.dataDir, 'tls', 'cert.pem'), 'utf8');
    assert.equal(fs.statSync(path.join(device.dataDir, 'tls', 'key.pem')).mode & 0o777, 0o600);
    const certificate = new crypto.X509Certificate(certPem);
    assert.match(certificate.subjectAltName ?? '', /DNS:localhost/);
    assert.match(certificate.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);

    // Verified against the generated certificate: a real TLS handshake, not "insecure".
    const login = await get(`${device.device.httpsUrl}/login`, certPem);
    assert.equal(login.status, 200);
    assert.match(textOf(login.body), /Administrator Login/);

    const redirect = await fetch(`${device.device.url}/settings/network/smtp?x=1`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), `${device.device.httpsUrl}/settings/network/smtp?x=1`);
  } finally {
    await device.close();
  }
});

test('the certificate page shows fingerprint and expiry; a mismatching pair is refused and changes nothing; a good pair is served at once', async () => {
  const device = await bootDevice();
  try {
    const panel = await device.panel();
    const before = await servedFingerprint(device.device.httpsUrl);
    const page = await panel.get('/settings/security/tls');
    assert.ok(page.html.includes(before), 'the page shows the served certificate\'s fingerprint');
    assert.match(textOf(page.html), /Valid until [A-Z][a-z]{2} \d{1,2}, \d{4}/);

    const one = await generate([{ name: 'commonName', value: 'printer.example' }], { keyType: 'ec', curve: 'P-256' });
    const other = await generate([{ name: 'commonName', value: 'other.example' }], { keyType: 'ec', curve: 'P-256' });
    const refused = await panel.submit('/settings/security/tls/certificate', { cert: one.cert, key: other.private }, '/settings/security/tls');
    assert.equal(refused.status, 400);
    assert.match(textOf(refused.html), /Nothing was changed: The private key does not belong to this certificate/);
    const garbage = await panel.submit('/settings/security/tls/certificate', { cert: 'hello', key: one.private }, '/settings/security/tls');
    assert.match(textOf(garbage.html), /not a PEM X\.509 certificate/);
    assert.equal(await servedFingerprint(device.device.httpsUrl), before, 'still the old certificate');

    const installed = await panel.submit('/settings/security/tls/certificate', { cert: one.cert, key: one.private }, '/settings/security/tls');
    assert.match(textOf(installed.html), /The certificate has been installed/);
    const expected = new crypto.X509Certificate(one.cert).fingerprint256;
    assert.equal(await servedFingerprint(device.device.httpsUrl), expected, 'new connections get the uploaded certificate');

    // It survives a restart.
    const restarted = await device.restart();
    try {
      assert.equal(await servedFingerprint(restarted.device.httpsUrl), expected);
    } finally {
      await restarted.close();
    }
  } finally {
    await device.close();
  }
});

test('the admin can turn the HTTP redirect back on; plain HTTP then no longer serves the panel', async () => {
  const device = await bootDevice();
  try {
    const panel = await device.panel();
    const page = await panel.get('/settings/security/tls');
    const saved = await panel.request('POST', '/settings/security/tls', { _csrf: csrfTokenOf(page.html), httpPolicy: 'redirect' }, 0);
    assert.equal(saved.status, 302);
    const redirect = await fetch(`${device.device.url}/login`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    const stranger = new PanelClient(device.device.url);
    await assert.rejects(stranger.login(ADMIN_PASSWORD), 'plain HTTP no longer serves the panel');
  } finally {
    await device.close();
  }
});

/** What a browser learns from the HTTPS port's answer: does it pin the panel to HTTPS (HSTS)? */
function httpsHeaders(url: string): Promise<Record<string, string | string[] | undefined>> {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false }, (response) => {
      response.resume();
      resolve(response.headers);
    }).on('error', reject);
  });
}

test('HSTS only over HTTPS and only once the admin installed a CA-issued certificate; never with the self-signed one', async () => {
  const device = await bootDevice();
  try {
    const selfSigned = await httpsHeaders(`${device.device.httpsUrl}/login`);
    assert.equal(selfSigned['strict-transport-security'], undefined, 'the self-signed certificate: no HSTS (it would lock the admin out)');
    assert.match(String(selfSigned['permissions-policy']), /camera=\(\)/);

    const ca = await generate([{ name: 'commonName', value: 'Lab CA' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256', extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, critical: true }] });
    const leaf = await generate([{ name: 'commonName', value: 'printer.example' }], {
      keyType: 'ec', curve: 'P-256', algorithm: 'sha256', ca: { key: ca.private, cert: ca.cert },
      extensions: [{ name: 'basicConstraints', cA: false }, { name: 'extKeyUsage', serverAuth: true }, { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] }],
    });
    const panel = await device.panel();
    const sha1 = await generate([{ name: 'commonName', value: 'old.example' }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha1', ca: { key: ca.private, cert: ca.cert } });
    const weak = await panel.submit('/settings/security/tls/certificate', { cert: sha1.cert, key: sha1.private }, '/settings/security/tls');
    assert.equal(weak.status, 400, 'a certificate OpenSSL will not serve is refused, not saved');
    assert.match(textOf(weak.html), /Nothing was changed: The device's TLS library refuses this certificate/);
    const installed = await panel.submit('/settings/security/tls/certificate', { cert: leaf.cert, key: leaf.private }, '/settings/security/tls');
    assert.match(textOf(installed.html), /The certificate has been installed/);

    assert.match(String((await httpsHeaders(`${device.device.httpsUrl}/login`))['strict-transport-security']), /^max-age=\d{7,}$/);
    const plain = await fetch(`${device.device.url}/login`);
    assert.equal(plain.headers.get('strict-transport-security'), null, 'never over plain HTTP');

    const page = await panel.get('/settings/security/tls');
    const regenerated = await panel.request('POST', '/settings/security/tls/regenerate', { _csrf: csrfTokenOf(page.html), confirm: 'ok' });
    assert.match(textOf(regenerated.html), /A new self-signed certificate has been made/);
    assert.equal((await httpsHeaders(`${device.device.httpsUrl}/login`))['strict-transport-security'], undefined, 'back to self-signed: no HSTS again');
  } finally {
    await device.close();
  }
});
