/** The scan request's streaming reader: the PDF decoded as the body arrives, whatever the chunking. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';
import { BridgeError, ScanBodyDecoder } from '../../../server/firmware/bridge.js';

function read(json: string | Buffer, chunk: number): { fields: Record<string, unknown>; pdf: Buffer } {
  const body = Buffer.isBuffer(json) ? json : Buffer.from(json);
  const decoder = new ScanBodyDecoder(body.length);
  for (let i = 0; i < body.length; i += chunk) decoder.write(body.subarray(i, i + chunk));
  return decoder.end();
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

test('decodes pdfBase64 for every length and chunk size; the other fields are kept', () => {
  for (let n = 0; n < 12; n++) {
    const pdf = crypto.randomBytes(n + 1);
    for (const chunk of [1, 2, 3, 5, 64]) {
      const { fields, pdf: out } = read(JSON.stringify({ to: ['a@example.com'], pdfBase64: pdf.toString('base64'), pages: 2, subject: 'x "pdfBase64":"' }), chunk);
      assert.ok(out.equals(pdf), `length ${n + 1}, chunk ${chunk}`);
      assert.deepEqual(fields, { to: ['a@example.com'], pdfBase64: '', pages: 2, subject: 'x "pdfBase64":"' });
    }
  }
  const big = crypto.randomBytes(1_000_003);
  assert.ok(read(JSON.stringify({ pdfBase64: big.toString('base64'), to: [] }), 65536).pdf.equals(big));
});

test('only the top-level key counts; an escaped key name takes the plain path', () => {
  const nested = read(`{"meta":{"pdfBase64":"${b64('no')}"},"list":["pdfBase64"],"pdfBase64" : "${b64('yes')}" }`, 4);
  assert.equal(nested.pdf.toString(), 'yes');
  assert.deepEqual(nested.fields.meta, { pdfBase64: b64('no') });
  assert.equal(read(`{"pdf\\u0042ase64":"${b64('escaped')}"}`, 3).pdf.toString(), 'escaped');
});

test('refuses what is not one plain base64 string', () => {
  const refused = (json: string, code: string, pattern: RegExp, chunk = 3) =>
    assert.throws(() => read(json, chunk), (err: unknown) => err instanceof BridgeError && err.code === code && pattern.test(err.message), json);
  refused('{"pdfBase64":"SGVs bG8="}', 'bad_request', /not base64/);
  refused('{"pdfBase64":"SGVs*bG8="}', 'bad_request', /not base64/);
  refused('{"pdfBase64":"SGVs\\/bG8="}', 'bad_request', /not base64/);
  refused('{"pdfBase64":"QQ==QUJD"}', 'bad_request', /not base64/);
  refused('{"pdfBase64":"SGVsbG8=","pdfBase64":"SGVsbG8="}', 'bad_request', /given twice/);
  refused('{"pdfBase64":123}', 'bad_request', /missing/);
  refused('{"to":[]}', 'bad_request', /missing/);
  refused('{"pdfBase64":"SGVsbG8=', 'bad_request', /JSON/);
  refused('["pdfBase64","SGVsbG8="]', 'bad_request', /JSON/);
  refused(`{"pdfBase64":"${crypto.randomBytes(20 * 1024 * 1024 + 3).toString('base64')}"}`, 'too_large', /20 MB/, 65536);
});
