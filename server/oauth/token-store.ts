/**
 * The token store: the one place that writes tokens. Pages ask it for a token's status and start or
 * delete authorizations; the mail sender and the POP checker ask it for an access token. It talks to
 * providers only through the grant flows in ./flows, and moves states only through ./token-state.
 */
import type { Db } from '../db/database.js';
import type { EventKind, EventLog } from '../events/event-log.js';
import type { SecretBox } from '../security/secret-box.js';
import type { Provider, ProviderRepository } from '../settings/providers.js';
import crypto from 'node:crypto';
import type { Grant } from '../settings/providers.js';
import { claimsChallenge, classifyOAuthError } from './errors.js';
import { AuthorizationCodeUnsupported, beginAuthorization, completeAuthorization } from './flows/authorization-code.js';
import { requestAppToken } from './flows/client-credentials.js';
import { pollDeviceAuthorization, startDeviceAuthorization, DeviceFlowUnsupported, type DeviceAuthorization } from './flows/device-code.js';
import { refreshAccessToken } from './flows/refresh.js';
import { authorizationParams, grantOf } from './provider-profiles.js';
import { revokeTokens, supportsRevocation } from './flows/revocation.js';
import type { ReceivedTokens } from './flows/tokens.js';
import { DiscoveryError, type ProviderClients } from './provider-clients.js';
import type { Configuration } from 'openid-client';
import {
  EMPTY_CREDENTIAL,
  forecastOf,
  jitterOf,
  NO_GRANT_RULES,
  needsRenewal,
  SIGN_IN_NOTICE_MS,
  statusOf,
  transition,
  type Credential,
  type GrantForecast,
  type GrantRules,
  type PendingKind,
  type Reason,
  type TokenEvent,
  type TokenStatus,
} from './token-state.js';

export interface TokenKey {
  providerId: number;
  account: string;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface TokenStoreOptions {
  db: Db;
  box: SecretBox;
  providers: ProviderRepository;
  clients: ProviderClients;
  events: EventLog;
  log: Logger;
  /** Renew an access token when it has less than this left (a mail session must not outlive it). */
  renewalMarginMs?: number;
  /** The device's clock, ms since epoch (tests and the simulator move it); default Date.now. */
  clock?: () => number;
  /** What each provider's rules say about a grant's life (inactivity limit, fixed lifetime). */
  rules?: (provider: Provider) => GrantRules;
}

/** A grant's history and forecast, for the token panel and the renewal schedule. */
export interface GrantLife extends GrantForecast {
  grantAt: number;
  renewedAt: number | null;
  renewals: number;
}

export interface CredentialStatus extends TokenStatus {
  /** The scope the token was asked or granted with. */
  scope: string;
}

/** A status with the grant's history and forecast, only while a token is held (Obtained or Invalid). */
export interface CredentialView extends CredentialStatus {
  life: GrantLife | null;
}

/**
 * Whether a token needs the admin: Invalid, or a new sign-in needed within SIGN_IN_NOTICE_MS (the
 * home page's notice, the menu badge and the notifications all ask this).
 */
export function attentionOf(view: CredentialView, now: number): 'invalid' | 'sign_in_soon' | null {
  if (view.state === 'invalid') return 'invalid';
  if (view.state === 'obtained' && view.life?.signInBy != null && view.life.signInBy - now <= SIGN_IN_NOTICE_MS) return 'sign_in_soon';
  return null;
}

/** What a renewal came to: a new access token, a provider that could not be reached, or a refusal. */
export type RenewalOutcome =
  | { kind: 'renewed'; accessToken: string }
  | { kind: 'transient'; reason: Reason }
  | { kind: 'rejected'; reason: Reason };

/** Why an action on a token could not be done; `reason.code` maps to the message catalog. */
export class TokenActionError extends Error {
  constructor(
    readonly messageKey: 'token.alreadyObtained' | 'token.alreadyAwaiting' | 'token.requestFailed' | 'providers.unknown' | 'token.nothingToDelete',
    readonly reason?: Reason,
  ) {
    super(messageKey);
  }
}

/** No usable access token: the status says why (Not obtained, Awaiting, Invalid). */
export class TokenUnavailableError extends Error {
  constructor(readonly status: CredentialStatus) {
    super(`no usable token (${status.state}${status.reason ? `: ${status.reason.code}` : ''})`);
  }
}

/** The provider could not be reached to renew an expired access token; try again later. */
export class TokenTemporarilyUnavailableError extends Error {
  constructor(readonly reason: Reason) {
    super(`provider unreachable (${reason.detail ?? reason.code})`);
  }
}

/** What an open authorization must remember and never show. */
type PendingSecret =
  | { kind: 'device_code'; deviceCode: string }
  | { kind: 'browser'; codeVerifier: string; state: string; sessionId: string; redirectUri: string; returnTo: string }
  | { kind: 'direct' };

interface Secrets {
  accessToken?: string | undefined;
  refreshToken?: string | undefined;
  pending?: PendingSecret | undefined;
}

/** How long the admin's browser may take to sign in at the provider and come back. */
export const BROWSER_AUTHORIZATION_TTL_MS = 10 * 60_000;
/** A direct request (client credentials) that never returned, e.g. the device lost power meanwhile. */
const DIRECT_AUTHORIZATION_TTL_MS = 2 * 60_000;

export interface StartContext {
  /** Authorization code: the device's callback as registered at the provider. */
  redirectUri?: string;
  /** Authorization code: the admin session the browser sign-in is bound to. */
  sessionId?: string;
  /** Where the browser returns to after the callback (the page that pressed Get Token). */
  returnTo?: string;
}

export type StartResult =
  | { kind: 'awaiting'; status: CredentialStatus }
  | { kind: 'redirect'; url: string }
  | { kind: 'done'; status: CredentialStatus };

export interface CallbackResult {
  returnTo: string;
  key?: TokenKey;
  /** Set when no token came of it: why. */
  failure?: Reason;
}

export type TokenChangeListener = (key: TokenKey) => void;

function hashState(state: string): string {
  return crypto.createHash('sha256').update(state).digest('base64url');
}

interface CredentialRow {
  scope: string;
  access_token_enc: string | null;
  refresh_token_enc: string | null;
  access_expires_at: number | null;
  obtained_at: number | null;
  grant_at: number | null;
  renewed_at: number | null;
  renewals: number;
  refresh_expires_at: number | null;
  invalid_code: string | null;
  invalid_detail: string | null;
  pending_enc: string | null;
  pending_user_code: string | null;
  pending_verification_uri: string | null;
  pending_verification_uri_complete: string | null;
  pending_expires_at: number | null;
  pending_interval: number | null;
  failure_code: string | null;
  failure_detail: string | null;
  failure_at: number | null;
  warning_code: string | null;
  warning_at: number | null;
  grant_type: string;
  pending_kind: string | null;
  pending_state_hash: string | null;
}

export function normalizeAccount(account: string): string {
  return account.trim().toLowerCase();
}

function keyString(key: TokenKey): string {
  return `${key.providerId}\u0000${normalizeAccount(key.account)}`;
}

export class TokenStore {
  readonly #db: Db;
  readonly #box: SecretBox;
  readonly #providers: ProviderRepository;
  readonly #clients: ProviderClients;
  readonly #events: EventLog;
  readonly #log: Logger;
  readonly #renewalMarginMs: number;
  readonly #now: () => number;
  #version = 0;
  readonly #rules: (provider: Provider) => GrantRules;
  /** Background polls of pending device authorizations. */
  readonly #polls = new Map<string, { controller: AbortController; done: Promise<void> }>();
  /** Refreshes under way: concurrent callers share one request to the provider. */
  readonly #renewals = new Map<string, Promise<RenewalOutcome>>();
  readonly #listeners = new Set<TokenChangeListener>();

  constructor(options: TokenStoreOptions) {
    this.#db = options.db;
    this.#box = options.box;
    this.#providers = options.providers;
    this.#clients = options.clients;
    this.#events = options.events;
    this.#log = options.log;
    this.#renewalMarginMs = options.renewalMarginMs ?? 5 * 60_000;
    this.#now = options.clock ?? Date.now;
    this.#rules = options.rules ?? (() => NO_GRANT_RULES);
  }

  /** Moves on with every write of a credential: what is derived from the tokens can be kept until then. */
  get version(): number {
    return this.#version;
  }

  /** The device's clock as the store sees it (the renewal schedule and the pages use the same). */
  now(): number {
    return this.#now();
  }

  // ---- reading -------------------------------------------------------------------------------

  status(key: TokenKey, now = this.#now()): CredentialView {
    const { credential } = this.#load(key);
    const token = credential.token;
    const provider = token ? this.#providers.get(key.providerId) : undefined;
    const life = token && provider
      ? { grantAt: token.grantAt, renewedAt: token.renewedAt, renewals: token.renewals, ...forecastOf(token, this.#rules(provider), jitterOf(`${keyString(key)}\u0000${token.grantAt}`), now) }
      : null;
    return { ...statusOf(credential, now), scope: credential.scope, life };
  }

  /** Every (provider, account) that holds a token, Obtained or Invalid. */
  tokenKeys(): TokenKey[] {
    const rows = this.#db.prepare('SELECT provider_id, account FROM credentials WHERE access_token_enc IS NOT NULL OR refresh_token_enc IS NOT NULL').all() as { provider_id: number; account: string }[];
    return rows.map((row) => ({ providerId: row.provider_id, account: row.account }));
  }

  // ---- authorization ---------------------------------------------------------------------------

  /**
   * Get Token. Device code: asks for a code and polls for the person's decision in the background.
   * Authorization code: returns the provider URL the admin's browser must be sent to.
   * Client credentials: asks at once and returns the outcome.
   */
  async startAuthorization(key: TokenKey, scope: string, context: StartContext = {}): Promise<StartResult> {
    const provider = this.#provider(key);
    const current = this.status(key);
    if (current.state === 'obtained') throw new TokenActionError('token.alreadyObtained');
    if (current.state === 'awaiting_authorization') throw new TokenActionError('token.alreadyAwaiting');
    const replaced = this.#load(key).secrets;
    const config = await this.#asking(key, provider, () => this.#clients.configuration(provider));
    const grant = grantOf(provider);
    const result =
      grant === 'device_code'
        ? await this.#startDeviceCode(key, provider, config, scope)
        : grant === 'authorization_code'
          ? await this.#startBrowserSignIn(key, provider, config, scope, context)
          : await this.#startAppOnly(key, provider, config, scope);
    // An Invalid token being replaced is dead anyway; tell the provider so, without waiting for it.
    if (replaced.refreshToken || replaced.accessToken) void this.#revoke(provider, replaced);
    return result;
  }

  /**
   * Where Get Token will send the admin's browser (authorization code only), as an origin, so the
   * confirmation page may let its form lead there; null for the other grants or if the provider can't
   * be reached now (pressing OK then reports that).
   */
  async browserSignInOrigin(key: TokenKey): Promise<string | null> {
    const provider = this.#provider(key);
    if (grantOf(provider) !== 'authorization_code') return null;
    try {
      const endpoint = (await this.#clients.configuration(provider)).serverMetadata().authorization_endpoint;
      return endpoint ? new URL(endpoint).origin : null;
    } catch {
      return null;
    }
  }

  /** A request that opens an authorization; if the provider fails it, nothing changes but the event log. */
  async #asking<T>(key: TokenKey, provider: Provider, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      const reason = this.#startFailure(err);
      this.#record('failed', provider, key.account, reason);
      throw new TokenActionError('token.requestFailed', reason);
    }
  }

  async #startDeviceCode(key: TokenKey, provider: Provider, config: Configuration, scope: string): Promise<StartResult> {
    const authorization = await this.#asking(key, provider, () => startDeviceAuthorization(config, scope, this.#now()));
    const { deviceCode, ...shown } = authorization;
    this.#apply(key, { type: 'authorization_started', scope, pending: { kind: 'device_code', ...shown } }, { pending: { kind: 'device_code', deviceCode } }, 'device_code');
    this.#record('requested', provider, key.account, scope);
    this.#poll(key, provider, authorization, scope);
    return { kind: 'awaiting', status: this.status(key) };
  }

  async #startBrowserSignIn(key: TokenKey, provider: Provider, config: Configuration, scope: string, context: StartContext): Promise<StartResult> {
    const { redirectUri, sessionId } = context;
    if (!redirectUri || !sessionId) throw new Error('a browser sign-in needs the redirect URI and the admin session');
    const browser = await this.#asking(key, provider, () => beginAuthorization(config, { scope, redirectUri, extraParams: authorizationParams(provider) }));
    this.#apply(
      key,
      { type: 'authorization_started', scope, pending: { kind: 'browser', expiresAt: this.#now() + BROWSER_AUTHORIZATION_TTL_MS, intervalSeconds: 0 } },
      { pending: { kind: 'browser', codeVerifier: browser.codeVerifier, state: browser.state, sessionId, redirectUri, returnTo: context.returnTo ?? '/' } },
      'authorization_code',
    );
    this.#record('requested', provider, key.account, scope);
    return { kind: 'redirect', url: browser.url };
  }

  /** Client credentials: Awaiting only while the one request is under way, then Obtained or Not obtained. */
  async #startAppOnly(key: TokenKey, provider: Provider, config: Configuration, scope: string): Promise<StartResult> {
    this.#apply(key, { type: 'authorization_started', scope, pending: { kind: 'direct', expiresAt: this.#now() + DIRECT_AUTHORIZATION_TTL_MS, intervalSeconds: 0 } }, { pending: { kind: 'direct' } }, 'client_credentials');
    this.#record('requested', provider, key.account, scope);
    try {
      const tokens = await requestAppToken(config, scope, this.#now);
      this.#saveTokens(key, tokens, 'client_credentials');
      this.#record('obtained', provider, key.account, tokens.scope);
    } catch (err) {
      const reason = this.#startFailure(err);
      this.#apply(key, { type: 'authorization_failed', reason }, {});
      this.#record('failed', provider, key.account, reason);
    }
    return { kind: 'done', status: this.status(key) };
  }

  /**
   * The admin's browser came back from the provider. The state must name an open sign-in of this
   * very session; it is used once. Returns where to send the browser and, on failure, why.
   */
  async completeBrowserAuthorization(callbackUrl: URL, sessionId: string): Promise<CallbackResult> {
    const state = callbackUrl.searchParams.get('state') ?? '';
    const row = state
      ? (this.#db.prepare('SELECT provider_id, account FROM credentials WHERE pending_state_hash = ?').get(hashState(state)) as { provider_id: number; account: string } | undefined)
      : undefined;
    if (!row) return this.#failOwnBrowserAuthorization(sessionId, { code: 'state_mismatch' });
    const key = { providerId: row.provider_id, account: row.account };
    const { credential, secrets } = this.#load(key);
    const pending = secrets.pending;
    if (pending?.kind !== 'browser' || !credential.pending) return { returnTo: '/', failure: { code: 'state_mismatch' } };
    if (!safeEqual(pending.sessionId, sessionId)) return this.#failOwnBrowserAuthorization(sessionId, { code: 'state_mismatch' });
    const provider = this.#provider(key);
    const fail = (reason: Reason): CallbackResult => {
      this.#apply(key, { type: 'authorization_failed', reason }, {});
      this.#record(reason.code === 'access_denied' ? 'denied' : reason.code === 'authorization_timeout' ? 'expired' : 'failed', provider, key.account, reason);
      return { returnTo: pending.returnTo, key, failure: reason };
    };
    // Single use: the state stops matching before the code is exchanged, so a replay finds nothing.
    this.#db.prepare('UPDATE credentials SET pending_state_hash = NULL WHERE provider_id = ? AND account = ?').run(key.providerId, normalizeAccount(key.account));
    this.#version++;
    if (credential.pending.expiresAt <= this.#now()) return fail({ code: 'authorization_timeout' });
    const error = callbackUrl.searchParams.get('error');
    if (error) {
      const detail = callbackUrl.searchParams.get('error_description') ?? undefined;
      return fail(error === 'access_denied' ? { code: 'access_denied', detail } : { code: 'provider_error', detail: [error, detail].filter(Boolean).join(': ') });
    }
    try {
      const config = await this.#clients.configuration(provider);
      const tokens = await completeAuthorization(config, callbackUrl, { codeVerifier: pending.codeVerifier, state: pending.state, redirectUri: pending.redirectUri, scope: credential.scope, now: this.#now });
      this.#saveTokens(key, tokens, 'authorization_code');
      this.#record('obtained', provider, key.account, tokens.scope);
      return { returnTo: pending.returnTo, key };
    } catch (err) {
      return fail(this.#startFailure(err));
    }
  }

  /** A callback that matches nothing ends the sign-in this session has open, if any (and only that). */
  #failOwnBrowserAuthorization(sessionId: string, reason: Reason): CallbackResult {
    const rows = this.#db.prepare("SELECT provider_id, account FROM credentials WHERE pending_kind = 'browser' AND pending_state_hash IS NOT NULL").all() as { provider_id: number; account: string }[];
    for (const row of rows) {
      const key = { providerId: row.provider_id, account: row.account };
      const pending = this.#load(key).secrets.pending;
      if (pending?.kind === 'browser' && safeEqual(pending.sessionId, sessionId)) {
        this.#apply(key, { type: 'authorization_failed', reason }, {});
        this.#record('failed', this.#providers.get(key.providerId) ?? null, key.account, reason);
        return { returnTo: pending.returnTo, key, failure: reason };
      }
    }
    return { returnTo: '/', failure: reason };
  }

  /** After a restart: go on polling authorizations that are still open, end those that ran out. */
  resumePendingAuthorizations(): void {
    const rows = this.#db.prepare('SELECT provider_id, account FROM credentials WHERE pending_enc IS NOT NULL').all() as { provider_id: number; account: string }[];
    for (const row of rows) {
      const key = { providerId: row.provider_id, account: row.account };
      const { credential, secrets } = this.#load(key);
      const provider = this.#providers.get(key.providerId);
      const pending = credential.pending;
      if (!provider || !pending || !secrets.pending) continue;
      if (pending.expiresAt <= this.#now()) {
        const reason = { code: pending.kind === 'device_code' ? 'expired_token' : 'authorization_timeout' };
        this.#apply(key, { type: 'authorization_failed', reason }, {}, undefined, pending.expiresAt);
        this.#record('expired', provider, key.account);
        continue;
      }
      // A browser sign-in waits for its callback; only a device code needs polling.
      if (secrets.pending.kind !== 'device_code') continue;
      this.#record('resumed', provider, key.account);
      this.#poll(key, provider, {
        deviceCode: secrets.pending.deviceCode,
        userCode: pending.userCode ?? '',
        verificationUri: pending.verificationUri ?? '',
        verificationUriComplete: pending.verificationUriComplete,
        expiresAt: pending.expiresAt,
        intervalSeconds: pending.intervalSeconds,
      }, credential.scope);
    }
  }

  #poll(key: TokenKey, provider: Provider, authorization: DeviceAuthorization, scope: string): void {
    const id = keyString(key);
    const controller = new AbortController();
    const done = (async () => {
      try {
        const config = await this.#clients.configuration(provider);
        let warned = false;
        const outcome = await pollDeviceAuthorization(config, authorization, {
          signal: controller.signal,
          scope,
          now: this.#now,
          onTransient: (error) => {
            if (!warned) this.#record('unreachable', provider, key.account, error);
            warned = true;
          },
        });
        if (controller.signal.aborted || outcome.ok === false && outcome.error.kind === 'aborted') return;
        // Only the authorization that started this poll may finish it (not one deleted or replaced since).
        if (!this.#isOpen(key, authorization.deviceCode)) return;
        if (outcome.ok) {
          this.#saveTokens(key, outcome.tokens, 'device_code');
          this.#record('obtained', provider, key.account, outcome.tokens.scope);
        } else {
          this.#apply(key, { type: 'authorization_failed', reason: { code: outcome.error.code, detail: outcome.error.detail } }, {});
          this.#record(outcome.error.kind === 'denied' ? 'denied' : outcome.error.kind === 'expired' ? 'expired' : 'failed', provider, key.account, outcome.error);
        }
      } catch (err) {
        // Discovery failed on resume, or a bug: end the wait rather than leave it stuck.
        if (controller.signal.aborted) return;
        const reason = this.#startFailure(err);
        this.#log.error({ err: reason }, 'device authorization polling failed');
        if (this.#isOpen(key, authorization.deviceCode)) {
          this.#apply(key, { type: 'authorization_failed', reason }, {});
          this.#record('failed', provider, key.account, reason);
        }
      } finally {
        if (this.#polls.get(id)?.controller === controller) this.#polls.delete(id);
      }
    })();
    this.#polls.get(id)?.controller.abort();
    this.#polls.set(id, { controller, done });
  }

  #isOpen(key: TokenKey, deviceCode: string): boolean {
    const pending = this.#load(key).secrets.pending;
    return pending?.kind === 'device_code' && pending.deviceCode === deviceCode;
  }

  // ---- deletion --------------------------------------------------------------------------------

  /** Delete: stops any wait, revokes at the provider where it can, and forgets the token. */
  async delete(key: TokenKey): Promise<{ revokeFailure?: Reason }> {
    const { credential, secrets } = this.#load(key);
    if (credential === EMPTY_CREDENTIAL) throw new TokenActionError('token.nothingToDelete');
    await this.#stopPoll(key);
    this.#apply(key, { type: 'deleted' }, {});
    const provider = this.#providers.get(key.providerId);
    this.#record('deleted', provider ?? null, key.account);
    if (!provider || !(secrets.refreshToken || secrets.accessToken)) return {};
    const revokeFailure = await this.#revoke(provider, secrets);
    return revokeFailure ? { revokeFailure } : {};
  }

  /** A provider is going away: its credentials go with it (the database cascades), polls stop. */
  async forgetProvider(providerId: number): Promise<void> {
    for (const [id, poll] of this.#polls) {
      if (id.startsWith(`${providerId}\u0000`)) {
        poll.controller.abort();
        await poll.done;
      }
    }
    this.#clients.forget(providerId);
  }

  async #revoke(provider: Provider, secrets: Secrets): Promise<Reason | undefined> {
    try {
      const config = await this.#clients.configuration(provider);
      if (!supportsRevocation(config)) return undefined;
      await revokeTokens(config, secrets);
      return undefined;
    } catch (err) {
      const reason = classifyOAuthError(err);
      this.#log.warn({ provider: provider.name, reason: reason.code, detail: reason.detail }, 'token revocation failed');
      return { code: reason.code, detail: reason.detail };
    }
  }

  async #stopPoll(key: TokenKey): Promise<void> {
    const poll = this.#polls.get(keyString(key));
    if (!poll) return;
    poll.controller.abort();
    await poll.done;
  }

  // ---- access tokens for the mail services -----------------------------------------------------

  /**
   * A usable access token for (provider, account): the stored one while it has life left, otherwise a
   * renewed one. `forceRefresh` is for a mail server that rejected the last token.
   */
  async getAccessToken(key: TokenKey, options: { forceRefresh?: boolean } = {}): Promise<string> {
    const { credential, secrets } = this.#load(key);
    const status = statusOf(credential, this.#now());
    if (status.state !== 'obtained' || !credential.token || !secrets.accessToken) {
      throw new TokenUnavailableError({ ...status, scope: credential.scope });
    }
    if (!options.forceRefresh && !needsRenewal(credential.token, this.#now(), this.#renewalMarginMs)) return secrets.accessToken;
    if (!secrets.refreshToken && !credential.token.canReRequest) {
      if (!options.forceRefresh) return secrets.accessToken;
      // Nothing can renew it: the server's rejection is final.
      this.reportRejected(key, { code: 'token_expired' });
      throw new TokenUnavailableError(this.status(key));
    }
    const outcome = await this.#renewal(key);
    if (outcome.kind === 'renewed') return outcome.accessToken;
    if (outcome.kind === 'rejected') throw new TokenUnavailableError(this.status(key));
    // The old access token may still have a few minutes: better than failing the job.
    if (credential.token.accessExpiresAt === null || credential.token.accessExpiresAt > this.#now()) return secrets.accessToken;
    throw new TokenTemporarilyUnavailableError(outcome.reason);
  }

  /**
   * The renewal schedule's keep-alive: renews the grant now, mail or no mail, so the provider sees it
   * used before its inactivity limit. A transient failure changes nothing but the warning.
   */
  async keepAlive(key: TokenKey): Promise<RenewalOutcome | null> {
    const { credential, secrets } = this.#load(key);
    if (statusOf(credential, this.#now()).state !== 'obtained' || !secrets.refreshToken) return null;
    return this.#renewal(key, 'keep-alive');
  }

  /** One renewal per credential at a time: concurrent callers share the request to the provider. */
  #renewal(key: TokenKey, why?: string): Promise<RenewalOutcome> {
    const id = keyString(key);
    let renewal = this.#renewals.get(id);
    if (!renewal) {
      const { credential, secrets } = this.#load(key);
      renewal = this.#renew(key, secrets.refreshToken, credential.scope, why).finally(() => this.#renewals.delete(id));
      this.#renewals.set(id, renewal);
    }
    return renewal;
  }

  /** With the refresh token, or (client credentials, no refresh token) by simply asking again. */
  /** `why` goes to the Token Event Log (a keep-alive renewal is told apart from one a mail needed). */
  async #renew(key: TokenKey, refreshToken: string | undefined, scope: string, why?: string): Promise<RenewalOutcome> {
    const provider = this.#provider(key);
    try {
      const config = await this.#clients.configuration(provider);
      let tokens: ReceivedTokens;
      try {
        tokens = refreshToken ? await refreshAccessToken(config, refreshToken, scope, { now: this.#now }) : await requestAppToken(config, scope, this.#now);
      } catch (err) {
        // Continuous access evaluation: the provider wants more claims (a fresh sign-in, a policy); ask once with them.
        const claims = refreshToken ? claimsChallenge(err) : undefined;
        if (claims === undefined) throw err;
        this.#record('challenged', provider, key.account, 'insufficient_claims');
        try {
          tokens = await refreshAccessToken(config, refreshToken!, scope, { now: this.#now, claims });
        } catch (again) {
          const error = classifyOAuthError(again);
          if (error.kind === 'transient' || error.kind === 'aborted') throw again;
          const reason = { code: 'insufficient_claims', detail: error.detail };
          this.reportRejected(key, reason);
          return { kind: 'rejected', reason };
        }
      }
      this.#saveTokens(key, tokens, refreshToken ? this.#grantOf(key) : 'client_credentials');
      this.#record('refreshed', provider, key.account, why);
      return { kind: 'renewed', accessToken: tokens.accessToken };
    } catch (err) {
      const error = err instanceof DiscoveryError ? classifyOAuthError(err.cause) : classifyOAuthError(err);
      const reason = { code: error.code, detail: error.detail };
      if (error.kind === 'transient' || error.kind === 'aborted') {
        this.#apply(key, { type: 'provider_unreachable', reason }, {});
        this.#record('unreachable', provider, key.account, error);
        return { kind: 'transient', reason };
      }
      this.reportRejected(key, reason);
      return { kind: 'rejected', reason };
    }
  }

  /** A provider or mail server refused the token for good: it becomes Invalid on every page using it. */
  reportRejected(key: TokenKey, reason: Reason): void {
    const status = this.status(key);
    if (status.state !== 'obtained') return;
    this.#apply(key, { type: 'token_rejected', reason }, {});
    this.#record('invalidated', this.#providers.get(key.providerId) ?? null, key.account, reason);
  }

  /** Told after every change of a credential (a page or the outbox may want to react); returns an unsubscribe. */
  onChange(listener: TokenChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    const polls = [...this.#polls.values()];
    for (const poll of polls) poll.controller.abort();
    await Promise.all(polls.map((poll) => poll.done));
    await Promise.allSettled([...this.#renewals.values()]);
  }

  // ---- persistence -----------------------------------------------------------------------------

  #provider(key: TokenKey): Provider {
    const provider = this.#providers.get(key.providerId);
    if (!provider) throw new TokenActionError('providers.unknown');
    return provider;
  }

  #startFailure(err: unknown): Reason {
    if (err instanceof DeviceFlowUnsupported) return { code: 'no_device_flow' };
    if (err instanceof AuthorizationCodeUnsupported) return { code: 'no_authorization_endpoint' };
    if (err instanceof DiscoveryError) {
      const cause = classifyOAuthError(err.cause);
      return { code: 'discovery_failed', detail: cause.detail };
    }
    const error = classifyOAuthError(err);
    return { code: error.code, detail: error.detail };
  }

  /** Saves new tokens; a rotated refresh token is saved in the same transaction as the access token. */
  #saveTokens(key: TokenKey, tokens: ReceivedTokens, grant: Grant): void {
    const canReRequest = grant === 'client_credentials';
    const now = this.#now();
    this.#apply(
      key,
      {
        type: 'tokens_received',
        scope: tokens.scope,
        token: { obtainedAt: now, accessExpiresAt: tokens.expiresAt, hasRefreshToken: Boolean(tokens.refreshToken), canReRequest, grantAt: now, renewedAt: null, renewals: 0, refreshExpiresAt: tokens.refreshExpiresAt },
      },
      { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken },
      grant,
      now,
    );
  }

  #grantOf(key: TokenKey): Grant {
    const row = this.#db.prepare('SELECT grant_type FROM credentials WHERE provider_id = ? AND account = ?').get(key.providerId, normalizeAccount(key.account)) as { grant_type: Grant } | undefined;
    return row?.grant_type ?? 'device_code';
  }

  /** Moves a credential through the state machine and saves facts and secrets in one transaction. */
  #apply(key: TokenKey, event: TokenEvent, secrets: Secrets, grant?: Grant, now = this.#now()): void {
    this.#db.transaction(() => {
      const { credential } = this.#load(key);
      this.#write(key, transition(credential, event, now), secrets, grant ?? this.#grantOf(key));
    }).immediate();
    for (const listener of this.#listeners) {
      try {
        listener(key);
      } catch (err) {
        this.#log.error({ err }, 'token change listener failed');
      }
    }
  }

  #load(key: TokenKey): { credential: Credential; secrets: Secrets } {
    const row = this.#db.prepare('SELECT * FROM credentials WHERE provider_id = ? AND account = ?').get(key.providerId, normalizeAccount(key.account)) as CredentialRow | undefined;
    if (!row) return { credential: EMPTY_CREDENTIAL, secrets: {} };
    const reason = (code: string | null, detail: string | null) => (code ? { code, detail: detail ?? undefined } : null);
    const credential: Credential = {
      scope: row.scope,
      token: row.access_token_enc || row.refresh_token_enc
        ? {
            obtainedAt: row.obtained_at ?? 0,
            accessExpiresAt: row.access_expires_at,
            hasRefreshToken: row.refresh_token_enc !== null,
            canReRequest: row.grant_type === 'client_credentials',
            grantAt: row.grant_at ?? row.obtained_at ?? 0,
            renewedAt: row.renewed_at,
            renewals: row.renewals ?? 0,
            refreshExpiresAt: row.refresh_expires_at,
          }
        : null,
      invalid: reason(row.invalid_code, row.invalid_detail),
      pending: row.pending_enc && row.pending_expires_at
        ? {
            kind: (row.pending_kind ?? 'device_code') as PendingKind,
            userCode: row.pending_user_code ?? undefined,
            verificationUri: row.pending_verification_uri ?? undefined,
            verificationUriComplete: row.pending_verification_uri_complete ?? undefined,
            expiresAt: row.pending_expires_at,
            intervalSeconds: row.pending_interval ?? 5,
          }
        : null,
      failure: row.failure_code ? { code: row.failure_code, detail: row.failure_detail ?? undefined, at: row.failure_at ?? 0 } : null,
      warning: row.warning_code ? { code: row.warning_code, at: row.warning_at ?? 0 } : null,
    };
    return {
      credential,
      secrets: {
        accessToken: this.#box.openOptional(row.access_token_enc),
        refreshToken: this.#box.openOptional(row.refresh_token_enc),
        pending: parsePendingSecret(this.#box.openOptional(row.pending_enc)),
      },
    };
  }

  #write(key: TokenKey, credential: Credential, secrets: Secrets, grant: Grant): void {
    this.#version++;
    const account = normalizeAccount(key.account);
    if (credential === EMPTY_CREDENTIAL) {
      this.#db.prepare('DELETE FROM credentials WHERE provider_id = ? AND account = ?').run(key.providerId, account);
      return;
    }
    const old = this.#db.prepare('SELECT access_token_enc, refresh_token_enc, pending_enc, pending_state_hash FROM credentials WHERE provider_id = ? AND account = ?').get(key.providerId, account) as
      | Pick<CredentialRow, 'access_token_enc' | 'refresh_token_enc' | 'pending_enc' | 'pending_state_hash'>
      | undefined;
    // Secrets not given in this write are kept while the facts say they still exist.
    const keep = (given: string | undefined, sealed: string | null | undefined, exists: boolean) =>
      !exists ? null : given !== undefined ? this.#box.seal(given) : (sealed ?? null);
    const token = credential.token;
    const pending = credential.pending;
    const values = {
      provider_id: key.providerId,
      account,
      scope: credential.scope,
      access_token_enc: keep(secrets.accessToken, old?.access_token_enc, token !== null),
      refresh_token_enc: keep(secrets.refreshToken, old?.refresh_token_enc, token?.hasRefreshToken ?? false),
      access_expires_at: token?.accessExpiresAt ?? null,
      obtained_at: token?.obtainedAt ?? null,
      grant_at: token?.grantAt ?? null,
      renewed_at: token?.renewedAt ?? null,
      renewals: token?.renewals ?? 0,
      refresh_expires_at: token?.refreshExpiresAt ?? null,
      invalid_code: credential.invalid?.code ?? null,
      invalid_detail: credential.invalid?.detail ?? null,
      pending_enc: keep(secrets.pending && JSON.stringify(secrets.pending), old?.pending_enc, pending !== null),
      pending_kind: pending?.kind ?? null,
      pending_state_hash: pending === null ? null : secrets.pending ? (secrets.pending.kind === 'browser' ? hashState(secrets.pending.state) : null) : (old?.pending_state_hash ?? null),
      grant_type: grant,
      pending_user_code: pending?.userCode ?? null,
      pending_verification_uri: pending?.verificationUri ?? null,
      pending_verification_uri_complete: pending?.verificationUriComplete ?? null,
      pending_expires_at: pending?.expiresAt ?? null,
      pending_interval: pending?.intervalSeconds ?? null,
      failure_code: credential.failure?.code ?? null,
      failure_detail: credential.failure?.detail ?? null,
      failure_at: credential.failure?.at ?? null,
      warning_code: credential.warning?.code ?? null,
      warning_at: credential.warning?.at ?? null,
      updated_at: this.#now(),
    };
    const columns = Object.keys(values);
    this.#db
      .prepare(
        `INSERT INTO credentials (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})
         ON CONFLICT(provider_id, account) DO UPDATE SET ${columns.filter((c) => c !== 'provider_id' && c !== 'account').map((c) => `${c} = excluded.${c}`).join(', ')}`,
      )
      .run(values);
  }

  #record(kind: EventKind, provider: Provider | null, account: string, reason?: Reason | string): void {
    const detail = typeof reason === 'string' ? reason : reason ? [reason.code, reason.detail].filter(Boolean).join(': ') : undefined;
    this.#events.record(kind, provider?.name ?? null, normalizeAccount(account), detail);
    this.#log.info({ event: kind, provider: provider?.name, account: normalizeAccount(account), detail }, 'token event');
  }
}

function parsePendingSecret(text: string | undefined): PendingSecret | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as PendingSecret;
  } catch {
    // Written before pending authorizations were JSON: a bare device code.
    return { kind: 'device_code', deviceCode: text };
  }
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}
