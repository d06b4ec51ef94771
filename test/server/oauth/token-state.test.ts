/** The token state machine, table-driven: every event from every state, and the derived display state. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EMPTY_CREDENTIAL, IllegalTransition, statusOf, transition, TOKEN_STATES, type Credential, type TokenEvent, type TokenState } from '../../../server/oauth/token-state.js';

const NOW = 1_000_000_000;
const pending = { kind: 'device_code' as const, userCode: 'ABCD-EFGH', verificationUri: 'https://idp.example/device', expiresAt: NOW + 600_000, intervalSeconds: 5 };
const token = { obtainedAt: NOW - 1000, accessExpiresAt: NOW + 3_600_000, hasRefreshToken: true, canReRequest: false };

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
