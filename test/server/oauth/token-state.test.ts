/** The token state machine, table-driven: every event from every state, and the derived display state. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EMPTY_CREDENTIAL, forecastOf, IllegalTransition, jitterOf, RENEWAL_OVERDUE_MS, statusOf, transition, TOKEN_STATES, type Credential, type TokenEvent, type TokenState } from '../../../server/oauth/token-state.js';

const NOW = 1_000_000_000;
const pending = { kind: 'device_code' as const, userCode: 'ABCD-EFGH', verificationUri: 'https://idp.example/device', expiresAt: NOW + 600_000, intervalSeconds: 5 };
const token = { obtainedAt: NOW - 1000, accessExpiresAt: NOW + 3_600_000, hasRefreshToken: true, canReRequest: false, grantAt: NOW - 1000, renewedAt: null, renewals: 0, refreshExpiresAt: null };

/** One credential in each displayed state. */
const IN_STATE: Record<TokenState, Credential> = {
  not_obtained: EMPTY_CREDENTIAL,
  awaiting_authorization: { ...EMPTY_CREDENTIAL, scope: 'mail.smtp', pending },
  obtained: { ...EMPTY_CREDENTIAL, scope: 'mail.smtp', token },
  invalid: { ...EMPTY_CREDENTIAL, scope: 'mail.smtp', token, invalid: { code: 'invalid_grant' } },
};

const EVENTS: Record<TokenEvent['type'], TokenEvent> = {
  authorization_started: { type: 'authorization_started', pending, scope: 'mail.smtp mail.pop' },
  tokens_received: { type: 'tokens_received', token, scope: 'mail.smtp mail.pop' },
  authorization_failed: { type: 'authorization_failed', reason: { code: 'access_denied' } },
  token_rejected: { type: 'token_rejected', reason: { code: 'invalid_grant', detail: 'grant revoked' } },
  provider_unreachable: { type: 'provider_unreachable', reason: { code: 'unreachable' } },
  deleted: { type: 'deleted' },
};

// from → event → resulting state, or null where the event is refused.
const TABLE: Record<TokenState, Record<TokenEvent['type'], TokenState | null>> = {
  not_obtained: { authorization_started: 'awaiting_authorization', tokens_received: null, authorization_failed: null, token_rejected: null, provider_unreachable: null, deleted: 'not_obtained' },
  awaiting_authorization: { authorization_started: null, tokens_received: 'obtained', authorization_failed: 'not_obtained', token_rejected: null, provider_unreachable: null, deleted: 'not_obtained' },
  obtained: { authorization_started: null, tokens_received: 'obtained', authorization_failed: null, token_rejected: 'invalid', provider_unreachable: 'obtained', deleted: 'not_obtained' },
  invalid: { authorization_started: 'awaiting_authorization', tokens_received: null, authorization_failed: null, token_rejected: 'invalid', provider_unreachable: null, deleted: 'not_obtained' },
};

describe('token state transitions', () => {
  for (const from of TOKEN_STATES) {
    for (const [type, expected] of Object.entries(TABLE[from]) as [TokenEvent['type'], TokenState | null][]) {
      test(`${from} + ${type} → ${expected ?? 'refused'}`, () => {
        assert.equal(statusOf(IN_STATE[from], NOW).state, from, 'fixture is in the state it claims');
        if (expected === null) {
          assert.throws(() => transition(IN_STATE[from], EVENTS[type], NOW), IllegalTransition);
        } else {
          assert.equal(statusOf(transition(IN_STATE[from], EVENTS[type], NOW), NOW).state, expected);
        }
      });
    }
  }
});

describe('displayed state and reason', () => {
  test('a denied authorization reads Not obtained with the reason', () => {
    const after = transition(IN_STATE.awaiting_authorization, EVENTS.authorization_failed, NOW);
    assert.deepEqual(statusOf(after, NOW).reason?.code, 'access_denied');
  });

  test('a pending code past its expiry reads Not obtained (expired), never stuck Awaiting', () => {
    const status = statusOf(IN_STATE.awaiting_authorization, pending.expiresAt + 1);
    assert.equal(status.state, 'not_obtained');
    assert.equal(status.reason?.code, 'expired_token');
  });

  test('a browser sign-in that was never completed reads Not obtained (not completed in time)', () => {
    const browser: Credential = { ...EMPTY_CREDENTIAL, pending: { kind: 'browser', expiresAt: NOW, intervalSeconds: 0 } };
    assert.deepEqual(statusOf(browser, NOW + 1).reason, { code: 'authorization_timeout' });
  });

  test('an outcome that arrives after the deadline still ends the authorization', () => {
    const late = pending.expiresAt + 1;
    assert.equal(statusOf(transition(IN_STATE.awaiting_authorization, EVENTS.tokens_received, late), late).state, 'obtained');
  });

  test('an expired access token without refresh token is Invalid (expired); with one it stays Obtained', () => {
    const later = token.accessExpiresAt + 1;
    const noRefresh: Credential = { ...IN_STATE.obtained, token: { ...token, hasRefreshToken: false } };
    assert.deepEqual([statusOf(noRefresh, later).state, statusOf(noRefresh, later).reason?.code], ['invalid', 'token_expired']);
    assert.equal(statusOf(IN_STATE.obtained, later).state, 'obtained');
    const appOnly: Credential = { ...noRefresh, token: { ...noRefresh.token!, canReRequest: true } };
    assert.equal(statusOf(appOnly, later).state, 'obtained', 'client credentials can simply ask again');
  });

  test('a provider outage leaves the token Obtained with a warning; Invalid shows the reason', () => {
    const warned = statusOf(transition(IN_STATE.obtained, EVENTS.provider_unreachable, NOW), NOW);
    assert.equal(warned.state, 'obtained');
    assert.equal(warned.warning?.code, 'unreachable');
    const invalid = statusOf(transition(IN_STATE.obtained, EVENTS.token_rejected, NOW), NOW);
    assert.deepEqual(invalid.reason, { code: 'invalid_grant', detail: 'grant revoked' });
  });

  test('exactly the four states of the printer guide exist', () => {
    assert.deepEqual([...TOKEN_STATES], ['not_obtained', 'awaiting_authorization', 'obtained', 'invalid']);
  });
});

describe('keeping the grant alive and forecasting its end', () => {
  const DAY = 24 * 60 * 60_000;
  const microsoft = { inactivityLimitMs: 90 * DAY, lifetimeMs: null };

  test('a renewal keeps when the grant began and counts itself; a new sign-in starts over', () => {
    const renewedAt = NOW + DAY;
    const fresh = { ...token, obtainedAt: renewedAt, grantAt: renewedAt, accessExpiresAt: renewedAt + 3_600_000 };
    const after = transition(IN_STATE.obtained, { type: 'tokens_received', token: fresh, scope: 'mail.smtp' }, renewedAt).token!;
    assert.deepEqual([after.grantAt, after.renewedAt, after.renewals, after.accessExpiresAt], [token.grantAt, renewedAt, 1, renewedAt + 3_600_000]);
    const signedIn = transition(IN_STATE.awaiting_authorization, { type: 'tokens_received', token: fresh, scope: 'mail.smtp' }, renewedAt).token!;
    assert.deepEqual([signedIn.grantAt, signedIn.renewedAt, signedIn.renewals], [renewedAt, null, 0]);
  });

  test('a refresh token end the provider gave is kept until it says another', () => {
    const withEnd = { ...token, refreshExpiresAt: NOW + 7 * DAY };
    const after = transition({ ...IN_STATE.obtained, token: withEnd }, { type: 'tokens_received', token, scope: 'x' }, NOW + DAY).token!;
    assert.equal(after.refreshExpiresAt, NOW + 7 * DAY);
  });

  test('renewal at a third of the inactivity limit, ±10 % jitter, from the last use', () => {
    const none = forecastOf(token, microsoft, 0, NOW);
    assert.equal(none.nextRenewalAt, token.grantAt + 30 * DAY);
    assert.equal(none.signInBy, null, 'a healthy Microsoft grant has no forecast end');
    assert.equal(forecastOf(token, microsoft, 1, NOW).nextRenewalAt, token.grantAt + 33 * DAY);
    assert.equal(forecastOf(token, microsoft, -1, NOW).nextRenewalAt, token.grantAt + 27 * DAY);
    const renewed = { ...token, renewedAt: NOW + 10 * DAY, renewals: 1 };
    assert.equal(forecastOf(renewed, microsoft, 0, NOW).nextRenewalAt, NOW + 40 * DAY);
  });

  test('the jitter is fixed per grant and spread over [-1, 1]', () => {
    assert.equal(jitterOf('1\u0000a@example.com'), jitterOf('1\u0000a@example.com'));
    const values = Array.from({ length: 200 }, (_, i) => jitterOf(`printer-${i}`));
    assert.ok(values.every((v) => v >= -1 && v <= 1));
    assert.ok(Math.min(...values) < -0.8 && Math.max(...values) > 0.8, 'jitter spreads printers apart');
  });

  test('renewals that keep failing make the inactivity limit the forecast end', () => {
    const due = token.grantAt + 30 * DAY;
    assert.equal(forecastOf(token, microsoft, 0, due + RENEWAL_OVERDUE_MS - 1).signInBy, null);
    assert.equal(forecastOf(token, microsoft, 0, due + RENEWAL_OVERDUE_MS).signInBy, token.grantAt + 90 * DAY);
  });

  test('Google Testing: 7 days after the sign-in whatever the renewals; refresh_token_expires_in when sent', () => {
    const testing = { inactivityLimitMs: 180 * DAY, lifetimeMs: 7 * DAY };
    const renewed = { ...token, renewedAt: NOW + DAY, renewals: 3 };
    assert.equal(forecastOf(renewed, testing, 0, NOW + DAY).signInBy, token.grantAt + 7 * DAY);
    assert.equal(forecastOf({ ...token, refreshExpiresAt: NOW + 5 * DAY }, testing, 0, NOW).signInBy, NOW + 5 * DAY);
    assert.equal(forecastOf({ ...token, hasRefreshToken: false }, testing, 0, NOW).signInBy, null, 'nothing to forecast without a refresh token');
  });
});
