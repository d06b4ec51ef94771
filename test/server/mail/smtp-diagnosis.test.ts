/** Reading SMTP failures: every reply and error class maps to a catalog code and a disposition. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { en } from '../../../server/i18n/en.js';
import { SMTP_REPLIES } from '../../../firmware-sim/cloud/faults.js';
import { DOCUMENTED_REPLIES, SMTP_REASON_CODES, XOAUTH2_REPLY_CODES, cleanReply, diagnose, enhancedCodeOf, maskSecrets } from '../../../server/mail/smtp-diagnosis.js';
import { TokenTemporarilyUnavailableError, TokenUnavailableError } from '../../../server/oauth/token-store.js';

/** An error shaped like nodemailer's (code, command, response, responseCode). */
function smtpError(command: string, response: string, code = command.startsWith('AUTH') ? 'EAUTH' : 'EENVELOPE'): Error {
  return Object.assign(new Error(`failed: ${response}`), { code, command, response, responseCode: Number(response.slice(0, 3)) });
}

describe('diagnose', () => {
  const table: [string, Error, string, string][] = [
    // DIGEST.md, every code, on AUTH XOAUTH2
    ...XOAUTH2_REPLY_CODES.map((code): [string, Error, string, string] => {
      const reply = `${code.startsWith('5.5') ? '501' : '535'} ${code} Authentication unsuccessful`;
      return [reply, smtpError('AUTH XOAUTH2', reply), 'token_rejected', `smtp_${code}`];
    }),
    ['XOAUTH2 refused without an enhanced code', smtpError('AUTH XOAUTH2', '535 Error: Username and Password not accepted'), 'token_rejected', 'smtp_token_rejected'],
    ['454 on AUTH is temporary', smtpError('AUTH XOAUTH2', '454 4.7.0 Temporary authentication failure'), 'transient', 'smtp_temporary'],
    ['421 service closing', smtpError('MAIL FROM', '421 4.3.2 Service not available'), 'transient', 'smtp_temporary'],
    ['password refused', smtpError('AUTH PLAIN', '535 5.7.8 Authentication credentials invalid'), 'settings', 'smtp_auth_failed'],
    ['password, SMTP AUTH disabled', smtpError('AUTH LOGIN', '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.'), 'settings', 'smtp_5.7.139_tenant'],
    ['password, basic authentication retired', smtpError('AUTH PLAIN', '550 5.7.30 Basic authentication is not supported for Client Submission.'), 'settings', 'smtp_5.7.30'],
    ['send-as denied at the end of DATA', smtpError('DATA', '550 5.7.60 SMTP; Client does not have permissions to send as this sender', 'EMESSAGE'), 'failed', 'smtp_5.7.60'],
    ['authentication required', smtpError('MAIL FROM', '530 5.7.57 Client not authenticated to send mail'), 'settings', 'smtp_auth_required'],
    ['send-as denied', smtpError('MAIL FROM', '550 5.7.60 SMTP; Client does not have permissions to send as this sender'), 'failed', 'smtp_5.7.60'],
    ['sender refused', smtpError('MAIL FROM', '553 5.1.7 Sender address rejected'), 'failed', 'smtp_sender_rejected'],
    ['bad recipient', smtpError('RCPT TO', '550 5.1.1 User unknown'), 'failed', 'smtp_recipient_rejected'],
    ['too large', smtpError('DATA', '552 5.3.4 Message size exceeds fixed maximum message size', 'EMESSAGE'), 'failed', 'smtp_too_large'],
    ['message refused', smtpError('DATA', '554 5.6.0 Invalid message content', 'EMESSAGE'), 'failed', 'smtp_message_rejected'],
    ['greeting refused', smtpError('CONN', '554 5.7.1 Access denied', 'EPROTOCOL'), 'settings', 'smtp_refused'],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ESOCKET' }), 'transient', 'smtp_unreachable'],
    ['timeout', Object.assign(new Error('Greeting never received'), { code: 'ETIMEDOUT' }), 'transient', 'smtp_unreachable'],
    ['TLS', Object.assign(new Error('certificate has expired'), { code: 'ESOCKET' }), 'settings', 'smtp_tls'],
    ['no usable token', Object.assign(new TokenUnavailableError({ state: 'invalid', reason: { code: 'invalid_grant' }, pending: null, warning: null, accessExpiresAt: null, scope: '' }), { code: 'EAUTH', command: 'AUTH XOAUTH2' }), 'token_unavailable', 'token_unavailable'],
    ['provider unreachable', Object.assign(new TokenTemporarilyUnavailableError({ code: 'unreachable', detail: 'HTTP 500' }), { code: 'EAUTH', command: 'AUTH XOAUTH2' }), 'transient', 'unreachable'],
  ];
  for (const [name, error, disposition, code] of table) {
    test(name, () => {
      const diagnosis = diagnose(error);
      assert.equal(diagnosis.disposition, disposition);
      assert.equal(diagnosis.code, code);
    });
  }

  test('keeps the server reply as the detail, one line', () => {
    const diagnosis = diagnose(smtpError('AUTH XOAUTH2', '535 5.7.139 Authentication unsuccessful,\r\n the request did not meet the criteria'));
    assert.equal(diagnosis.detail, '535 5.7.139 Authentication unsuccessful, the request did not meet the criteria');
    assert.equal(diagnosis.enhanced, '5.7.139');
    assert.equal(diagnosis.responseCode, 535);
  });

  test('enhancedCodeOf', () => {
    assert.equal(enhancedCodeOf('501 5.5.128 token expired'), '5.5.128');
    assert.equal(enhancedCodeOf('535-5.7.3 Authentication unsuccessful'), '5.7.3');
    assert.equal(enhancedCodeOf('535 Authentication failed'), undefined);
  });
});

describe('masking', () => {
  test('tokens, XOAUTH2 strings and given secrets never survive', () => {
    const token = 'EwBwA8l6BAAUbDba3x2OMJElkF7gJ4z/VbCPEz0AAYG2Z3kOd5sNXkG1Wk';
    const xoauth2 = Buffer.from(`user=a@b.example\x01auth=Bearer ${token}\x01\x01`).toString('base64');
    const text = cleanReply(`C: AUTH XOAUTH2 ${xoauth2}\nS: 235 ok, token ${token}, password hunter22`, ['hunter22'])!;
    assert.ok(!text.includes(token) && !text.includes(xoauth2) && !text.includes('hunter22'), text);
    assert.equal(maskSecrets('535 5.7.139 Authentication unsuccessful'), '535 5.7.139 Authentication unsuccessful');
  });
});

describe('catalog', () => {
  test('every code has a message and a remedy', () => {
    const catalog = en as Record<string, string>;
    for (const code of SMTP_REASON_CODES) {
      assert.ok(catalog[`reason.${code}`], `reason.${code}`);
      assert.ok(catalog[`reason.${code}.remedy`], `reason.${code}.remedy`);
    }
  });
  test('5.7.139 says SMTP AUTH is disabled', () => {
    assert.match(en['reason.smtp_5.7.139'], /SMTP AUTH is disabled for this tenant or mailbox/);
  });
});

describe('the documented rejections, one cause and one remedy each', () => {
  // Exchange Online's words (the lab answers with the same lines) → the cause the admin reads.
  const causes: [string, string, RegExp][] = [
    ['5.7.139-tenant', 'smtp_5.7.139_tenant', /turned off for the whole Microsoft 365 organization/],
    ['5.7.139-mailbox', 'smtp_5.7.139_mailbox', /turned off for this mailbox/],
    ['5.7.139-security-defaults', 'smtp_5.7.139_security_defaults', /security defaults/],
    ['5.7.139-conditional-access', 'smtp_5.7.139_conditional_access', /Conditional Access/],
    ['5.7.3', 'smtp_5.7.3', /authentication unsuccessful/],
  ];
  for (const [lab, code, cause] of causes) {
    test(`${SMTP_REPLIES[lab]} → ${code}`, () => {
      const diagnosis = diagnose(smtpError('AUTH XOAUTH2', SMTP_REPLIES[lab]!));
      assert.equal(diagnosis.code, code);
      assert.equal(diagnosis.disposition, 'token_rejected');
      assert.match(en[`reason.${code}` as keyof typeof en], cause);
    });
  }

  test('the four 5.7.139 causes have four different remedies', () => {
    const remedies = causes.slice(0, 4).map(([, code]) => en[`reason.${code}.remedy` as keyof typeof en]);
    assert.equal(new Set(remedies).size, 4, remedies.join('\n'));
  });

  test('a 5.7.139 in other words keeps the general message', () => {
    assert.equal(diagnose(smtpError('AUTH XOAUTH2', '535 5.7.139 Authentication unsuccessful')).code, 'smtp_5.7.139');
  });

  test('5.7.30 suggests OAuth 2.0; 5.7.60 says the Sender Address is not the mailbox', () => {
    assert.equal(diagnose(smtpError('AUTH LOGIN', SMTP_REPLIES['5.7.30']!)).code, 'smtp_5.7.30');
    assert.match(en['reason.smtp_5.7.30.remedy'], /OAuth 2\.0/);
    assert.equal(diagnose(smtpError('MAIL FROM', SMTP_REPLIES['5.7.60']!)).code, 'smtp_5.7.60');
    assert.match(en['reason.smtp_5.7.60'], /Sender Address is not the signed-in mailbox/);
  });

  test('every rule of the table is reachable: a lab reply diagnoses to it', () => {
    const reached = new Set(Object.values(SMTP_REPLIES).map((reply) => diagnose(smtpError(reply.startsWith('550 5.7.60') ? 'MAIL FROM' : 'AUTH XOAUTH2', reply)).code));
    // The general 5.7.139 is the fallback for words Microsoft may add later: tested above.
    for (const rule of DOCUMENTED_REPLIES.filter((r) => r.code !== 'smtp_5.7.139')) assert.ok(reached.has(rule.code), `${rule.code} has a lab reply`);
  });
});
