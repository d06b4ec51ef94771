/**
 * The token store: the one place that writes tokens. Pages ask it for a token's status and start or
 * delete authorizations; the mail sender and the POP checker ask it for an access token. It talks to
 * providers only through the grant flows in ./flows, and moves states only through ./token-state.
 */
import type { Db } from '../db/database.js';
import type { EventKind, EventLog } from '../events/event-log.js';
import type { SecretBox } from '../security/secret-box.js';
import type { Provider, ProviderRepository } from '../settings/providers.js';
import { classifyOAuthError, type ClassifiedError } from './errors.js';
import { pollDeviceAuthorization, startDeviceAuthorization, DeviceFlowUnsupported, type DeviceAuthorization } from './flows/device-code.js';
import { refreshAccessToken } from './flows/refresh.js';
import { revokeTokens, supportsRevocation } from './flows/revocation.js';
import type { ReceivedTokens } from './flows/tokens.js';
import { DiscoveryError, type ProviderClients } from './provider-clients.js';
import {
  EMPTY_CREDENTIAL,
  needsRenewal,
  statusOf,
  transition,
  type Credential,
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
}

export interface CredentialStatus extends TokenStatus {
  /** The scope the token was asked or granted with. */
  scope: string;
}

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

interface Secrets {
  accessToken?: string | undefined;
  refreshToken?: string | undefined;
  deviceCode?: string | undefined;
}

interface CredentialRow {
  scope: string;
  access_token_enc: string | null;
  refresh_token_enc: string | null;
  access_expires_at: number | null;
  obtained_at: number | null;
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
  /** Background polls of pending device authorizations. */
  readonly #polls = new Map<string, { controller: AbortController; done: Promise<void> }>();
  /** Refreshes under way: concurrent callers share one request to the provider. */
  readonly #renewals = new Map<string, Promise<string>>();

  constructor(options: TokenStoreOptions) {
    this.#db = options.db;
    this.#box = options.box;
    this.#providers = options.providers;
    this.#clients = options.clients;
    this.#events = options.events;
    this.#log = options.log;
    this.#renewalMarginMs = options.renewalMarginMs ?? 5 * 60_000;
  }

  // ---- reading -------------------------------------------------------------------------------

  status(key: TokenKey, now = Date.now()): CredentialStatus {
    const { credential } = this.#load(key);
    return { ...statusOf(credential, now), scope: credential.scope };
  }

  // ---- authorization ---------------------------------------------------------------------------

  /** Get Token: asks the provider for a device code and polls for the person's decision in the background. */
  async startAuthorization(key: TokenKey, scope: string): Promise<CredentialStatus> {
    const provider = this.#provider(key);
    const current = this.status(key);
    if (current.state === 'obtained') throw new TokenActionError('token.alreadyObtained');
    if (current.state === 'awaiting_authorization') throw new TokenActionError('token.alreadyAwaiting');

    let authorization: DeviceAuthorization;
    try {
      const config = await this.#clients.configuration(provider);
      authorization = await startDeviceAuthorization(config, scope);
    } catch (err) {
      const reason = this.#startFailure(err);
      this.#record('failed', provider, key.account, reason);
      throw new TokenActionError('token.requestFailed', reason);
    }
    // An Invalid token being replaced is dead anyway; tell the provider so, without waiting for it.
    const replaced = this.#load(key).secrets;
    if (replaced.refreshToken || replaced.accessToken) void this.#revoke(provider, replaced);

    this.#apply(key, { type: 'authorization_started', scope, pending: {
      userCode: authorization.userCode,
      verificationUri: authorization.verificationUri,
      verificationUriComplete: authorization.verificationUriComplete,
      expiresAt: authorization.expiresAt,
      intervalSeconds: authorization.intervalSeconds,
    } }, { deviceCode: authorization.deviceCode });
    this.#record('requested', provider, key.account, scope);
    this.#poll(key, provider, authorization, scope);
    return this.status(key);
  }

  /** After a restart: go on polling authorizations that are still open, end those that ran out. */
  resumePendingAuthorizations(): void {
    const rows = this.#db.prepare('SELECT provider_id, account FROM credentials WHERE pending_enc IS NOT NULL').all() as { provider_id: number; account: string }[];
    for (const row of rows) {
      const key = { providerId: row.provider_id, account: row.account };
      const { credential, secrets } = this.#load(key);
      const provider = this.#providers.get(key.providerId);
      const pending = credential.pending;
      if (!provider || !pending || !secrets.deviceCode) continue;
      if (pending.expiresAt <= Date.now()) {
        this.#apply(key, { type: 'authorization_failed', reason: { code: 'expired_token' } }, {}, pending.expiresAt);
        this.#record('expired', provider, key.account);
        continue;
      }
      this.#record('resumed', provider, key.account);
      this.#poll(key, provider, { deviceCode: secrets.deviceCode, ...pending }, credential.scope);
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
          onTransient: (error) => {
            if (!warned) this.#record('unreachable', provider, key.account, error);
            warned = true;
          },
        });
        if (controller.signal.aborted || outcome.ok === false && outcome.error.kind === 'aborted') return;
        // Only the authorization that started this poll may finish it (not one deleted or replaced since).
        if (this.#load(key).secrets.deviceCode !== authorization.deviceCode) return;
        if (outcome.ok) {
          this.#saveTokens(key, 'tokens_received', outcome.tokens);
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
        if (this.#load(key).secrets.deviceCode === authorization.deviceCode) {
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
    const status = statusOf(credential, Date.now());
    if (status.state !== 'obtained' || !credential.token || !secrets.accessToken) {
      throw new TokenUnavailableError({ ...status, scope: credential.scope });
    }
    if (!options.forceRefresh && !needsRenewal(credential.token, Date.now(), this.#renewalMarginMs)) return secrets.accessToken;
    if (!secrets.refreshToken) {
      if (!options.forceRefresh) return secrets.accessToken;
      // Nothing can renew it: the server's rejection is final.
      this.reportRejected(key, { code: 'token_expired' });
      throw new TokenUnavailableError(this.status(key));
    }
    const id = keyString(key);
    let renewal = this.#renewals.get(id);
    if (!renewal) {
      renewal = this.#renew(key, secrets.refreshToken, credential.scope, secrets.accessToken, credential.token.accessExpiresAt).finally(() => this.#renewals.delete(id));
      this.#renewals.set(id, renewal);
    }
    return renewal;
  }

  async #renew(key: TokenKey, refreshToken: string, scope: string, currentAccessToken: string, currentExpiry: number | null): Promise<string> {
    const provider = this.#provider(key);
    try {
      const config = await this.#clients.configuration(provider);
      const tokens = await refreshAccessToken(config, refreshToken, scope);
      this.#saveTokens(key, 'tokens_received', tokens);
      this.#record('refreshed', provider, key.account);
      return tokens.accessToken;
    } catch (err) {
      const error = err instanceof DiscoveryError ? classifyOAuthError(err.cause) : classifyOAuthError(err);
      if (error.kind === 'transient' || error.kind === 'aborted') {
        this.#apply(key, { type: 'provider_unreachable', reason: { code: error.code, detail: error.detail } }, {});
        this.#record('unreachable', provider, key.account, error);
        // The old access token may still have a few minutes: better than failing the job.
        if (currentExpiry === null || currentExpiry > Date.now()) return currentAccessToken;
        throw new TokenTemporarilyUnavailableError({ code: error.code, detail: error.detail });
      }
      this.reportRejected(key, { code: error.code, detail: error.detail });
      throw new TokenUnavailableError(this.status(key));
    }
  }

  /** A provider or mail server refused the token for good: it becomes Invalid on every page using it. */
  reportRejected(key: TokenKey, reason: Reason): void {
    const status = this.status(key);
    if (status.state !== 'obtained') return;
    this.#apply(key, { type: 'token_rejected', reason }, {});
    this.#record('invalidated', this.#providers.get(key.providerId) ?? null, key.account, reason);
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
    if (err instanceof DiscoveryError) {
      const cause = classifyOAuthError(err.cause);
      return { code: 'discovery_failed', detail: cause.detail };
    }
    const error = classifyOAuthError(err);
    return { code: error.code, detail: error.detail };
  }

  #saveTokens(key: TokenKey, type: 'tokens_received', tokens: ReceivedTokens): void {
    this.#apply(
      key,
      { type, scope: tokens.scope, token: { obtainedAt: Date.now(), accessExpiresAt: tokens.expiresAt, hasRefreshToken: Boolean(tokens.refreshToken), canReRequest: false } },
      { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken },
    );
  }

  /** Moves a credential through the state machine and saves facts and secrets in one transaction. */
  #apply(key: TokenKey, event: TokenEvent, secrets: Secrets, now = Date.now()): void {
    this.#db.transaction(() => {
      const { credential } = this.#load(key);
      this.#write(key, transition(credential, event, now), secrets);
    }).immediate();
  }

  #load(key: TokenKey): { credential: Credential; secrets: Secrets } {
    const row = this.#db.prepare('SELECT * FROM credentials WHERE provider_id = ? AND account = ?').get(key.providerId, normalizeAccount(key.account)) as CredentialRow | undefined;
    if (!row) return { credential: EMPTY_CREDENTIAL, secrets: {} };
    const reason = (code: string | null, detail: string | null) => (code ? { code, detail: detail ?? undefined } : null);
    const credential: Credential = {
      scope: row.scope,
      token: row.access_token_enc || row.refresh_token_enc
        ? { obtainedAt: row.obtained_at ?? 0, accessExpiresAt: row.access_expires_at, hasRefreshToken: row.refresh_token_enc !== null, canReRequest: false }
        : null,
      invalid: reason(row.invalid_code, row.invalid_detail),
      pending: row.pending_enc && row.pending_user_code && row.pending_verification_uri && row.pending_expires_at
        ? {
            userCode: row.pending_user_code,
            verificationUri: row.pending_verification_uri,
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
        deviceCode: this.#box.openOptional(row.pending_enc),
      },
    };
  }

  #write(key: TokenKey, credential: Credential, secrets: Secrets): void {
    const account = normalizeAccount(key.account);
    if (credential === EMPTY_CREDENTIAL) {
      this.#db.prepare('DELETE FROM credentials WHERE provider_id = ? AND account = ?').run(key.providerId, account);
      return;
    }
    const old = this.#db.prepare('SELECT access_token_enc, refresh_token_enc, pending_enc FROM credentials WHERE provider_id = ? AND account = ?').get(key.providerId, account) as
      | Pick<CredentialRow, 'access_token_enc' | 'refresh_token_enc' | 'pending_enc'>
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
      invalid_code: credential.invalid?.code ?? null,
      invalid_detail: credential.invalid?.detail ?? null,
      pending_enc: keep(secrets.deviceCode, old?.pending_enc, pending !== null),
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
      updated_at: Date.now(),
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
