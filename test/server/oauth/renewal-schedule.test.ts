/**
 * The renewal schedule against the lab's authorization server, on a clock the test moves: a grant is
 * renewed at a third of the inactivity limit with no mail sent; an outage is retried with backoff and
 * never makes the token Invalid; a refusal does, with the provider's reason. Also the CAE challenge
 * (401 insufficient_claims) and the clock check on the provider's Date header.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAuthorizationServer, type AuthorizationServer } from '../../../firmware-sim/cloud/authorization-server.js';
import { openDatabase, type Db } from '../../../server/db/database.js';
import { EventLog } from '../../../server/events/event-log.js';
import { ClockCheck } from '../../../server/oauth/clock-check.js';
import { ProviderClients } from '../../../server/oauth/provider-clients.js';
import { DEFAULT_INACTIVITY_LIMITS, grantRulesOf, PRODUCTION_AUTHORITIES } from '../../../server/oauth/provider-profiles.js';
import { RenewalSchedule } from '../../../server/oauth/renewal-schedule.js';
import { TokenStore, type TokenKey } from '../../../server/oauth/token-store.js';
import { SecretBox } from '../../../server/security/secret-box.js';
import { providerForm, ProviderRepository } from '../../../server/settings/providers.js';
import { validateForm } from '../../../server/settings/form.js';
import { tempDir } from '../../helpers/device.js';

const DAY = 24 * 60 * 60_000;
const quiet = { info() {}, warn() {}, error() {} };

interface Rig {
  db: Db;
  tokens: TokenStore;
  schedule: RenewalSchedule;
  clockCheck: ClockCheck;
  key: TokenKey;
  events: EventLog;
  /** Moves the device's clock. */
  advance(ms: number): void;
  close(): Promise<void>;
}

async function rig(lab: AuthorizationServer): Promise<Rig> {
  let now = Date.now();
  const clock = () => now;
  const dir = tempDir();
  const db = openDatabase(dir);
  const box = SecretBox.openOrCreate(dir);
  const providers = new ProviderRepository(db, box);
  const form = validateForm(providerForm, {
    name: 'Lab', type: 'custom', endpointMode: 'discovery', issuerUrl: lab.issuer, grant: 'device_code', clientId: lab.device.clientId,
    clientSecret: lab.device.clientSecret, smtpScope: lab.scopes.smtp, popScope: lab.scopes.pop, extraScope: 'offline_access',
  }, { choices: {}, secretsSet: new Set() });
  assert.deepEqual(form.errors, {});
  const providerId = providers.save(undefined, form.values, form.secrets.clientSecret);
  const events = new EventLog(db, clock);
  const clockCheck = new ClockCheck();
  const clients = new ProviderClients((id) => providers.clientSecret(id), PRODUCTION_AUTHORITIES, { clock, clockCheck });
  const tokens = new TokenStore({ db, box, providers, clients, events, log: quiet, clock, rules: (p) => grantRulesOf(p, DEFAULT_INACTIVITY_LIMITS) });
  const schedule = new RenewalSchedule({ tokens, log: quiet, retryBaseMs: 60_000 });
  const key = { providerId, account: lab.accounts[0]!.email };
  const started = await tokens.startAuthorization(key, `${lab.scopes.smtp} offline_access`);
  assert.equal(started.kind, 'awaiting');
  await lab.approveDeviceCode(tokens.status(key).pending!.userCode!);
  for (let i = 0; i < 100 && tokens.status(key).state !== 'obtained'; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(tokens.status(key).state, 'obtained');
  return {
    db, tokens, schedule, clockCheck, key, events,
    advance: (ms) => void (now += ms),
    async close() {
      await schedule.close();
      await tokens.close();
      db.close();
    },
  };
}

const kinds = (events: EventLog) => events.list().map((event) => event.kind);

describe('renewal schedule', () => {
  let lab: AuthorizationServer;
  before(async () => {
    lab = await startAuthorizationServer({ deviceInterval: 1 });
  });
  after(() => lab.close());

  test('idle: renewed at a third of 90 days (±10 %), no mail needed; the forecast moves on', async () => {
    const r = await rig(lab);
    try {
      const life = r.tokens.status(r.key).life!;
      assert.equal(life.renewedAt, null);
      assert.ok(life.nextRenewalAt! >= life.grantAt + 27 * DAY && life.nextRenewalAt! <= life.grantAt + 33 * DAY, 'due about 30 days after the sign-in');
      assert.equal(life.signInBy, null, 'nothing forecasts an end while renewals work');
      r.advance(26 * DAY);
      await r.schedule.runDue();
      assert.equal(r.tokens.status(r.key).life!.renewals, 0, 'not due after 26 days');
      r.advance(8 * DAY);
      await r.schedule.runDue();
      const after = r.tokens.status(r.key);
      assert.equal(after.state, 'obtained');
      assert.equal(after.life!.renewals, 1);
      assert.equal(after.life!.grantAt, life.grantAt, 'the sign-in date is kept');
      assert.equal(after.life!.renewedAt, r.tokens.now());
      assert.ok(after.life!.nextRenewalAt! > r.tokens.now() + 26 * DAY, 'the next renewal is a month on');
      assert.deepEqual([r.events.list()[0]!.kind, r.events.list()[0]!.detail], ['refreshed', 'keep-alive'], 'the Token Event Log tells a keep-alive renewal apart');
    } finally {
      await r.close();
    }
  });

  test('an outage is retried with backoff and never makes the token Invalid; a refusal does, with the reason', async () => {
    const r = await rig(lab);
    try {
      r.advance(34 * DAY);
      lab.setFault({ kind: 'server_error', endpoint: 'token' });
      await r.schedule.runDue();
      let status = r.tokens.status(r.key);
      assert.equal(status.state, 'obtained', 'a 500 is not a verdict on the token');
      assert.equal(status.warning?.code, 'unreachable');
      const retryAt = r.schedule.nextDueAt()!;
      assert.ok(retryAt > r.tokens.now() + 29_000 && retryAt <= r.tokens.now() + 60_000, 'first retry within the base delay');
      await r.schedule.runDue();
      assert.equal(kinds(r.events).filter((k) => k === 'unreachable').length, 1, 'not retried before its time');
      r.advance(60_000);
      await r.schedule.runDue();
      assert.equal(kinds(r.events).filter((k) => k === 'unreachable').length, 2);
      const second = r.schedule.nextDueAt()! - r.tokens.now();
      assert.ok(second > 60_000 && second <= 120_000, `the second retry waits longer (${second} ms)`);
      // Renewals failing for two months: the inactivity limit becomes a forecast end.
      r.advance(55 * DAY);
      assert.ok(r.tokens.status(r.key).life!.signInBy! < r.tokens.now() + 2 * DAY, 'expected to need a new sign-in soon');

      lab.setFault(null);
      await lab.resetPassword(lab.accounts[0]!.email);
      await r.schedule.runDue();
      status = r.tokens.status(r.key);
      assert.equal(status.state, 'invalid');
      assert.equal(status.reason?.code, 'invalid_grant');
      assert.equal(r.schedule.nextDueAt(), null, 'nothing left to renew');
    } finally {
      lab.setFault(null);
      await r.close();
    }
  });

  test('CAE: a 401 insufficient_claims is answered with the claims and renews; refused again, Invalid with the reason', async () => {
    const r = await rig(lab);
    try {
      lab.setGrantPolicy({ kind: 'insufficient_claims' });
      r.advance(34 * DAY);
      await r.schedule.runDue();
      assert.equal(r.tokens.status(r.key).state, 'obtained');
      assert.deepEqual(kinds(r.events).slice(0, 2), ['refreshed', 'challenged']);

      lab.setGrantPolicy({ kind: 'insufficient_claims', strict: true });
      const token = await r.tokens.getAccessToken(r.key, { forceRefresh: true }).catch((err: Error) => err);
      assert.ok(token instanceof Error, 'no token');
      const status = r.tokens.status(r.key);
      assert.equal(status.state, 'invalid');
      assert.equal(status.reason?.code, 'insufficient_claims');
      assert.match(status.reason?.detail ?? '', /AADSTS50076/);
    } finally {
      lab.setFault(null);
      await r.close();
    }
  });

  test('clock check: a provider Date 10 minutes off is measured on a token call; 1 minute is not a warning', async () => {
    const r = await rig(lab);
    try {
      lab.setGrantPolicy({ kind: 'clock_skew', ms: 10 * 60_000 });
      await r.tokens.getAccessToken(r.key, { forceRefresh: true });
      const [skew] = r.clockCheck.warnings();
      assert.ok(skew, 'a warning');
      assert.ok(Math.abs(skew.skewMs + 10 * 60_000) < 5_000, `the device is 10 minutes behind (${skew.skewMs} ms)`);
      lab.setGrantPolicy({ kind: 'clock_skew', ms: 60_000 });
      await r.tokens.getAccessToken(r.key, { forceRefresh: true });
      assert.deepEqual(r.clockCheck.warnings(), []);
    } finally {
      lab.setFault(null);
      await r.close();
    }
  });
});
