/**
 * The renewal schedule: keeps each grant alive independently of mail traffic. A printer that only
 * sends now and then would otherwise leave its refresh token unused until the provider forgets it
 * (Microsoft after 90 days: AADSTS700082). When each grant is due comes from the token store's
 * forecast (a third of the provider's inactivity limit, with a fixed per-grant jitter); this only
 * decides when to ask the store, and retries transient failures with capped, jittered backoff.
 * A transient failure never makes a token Invalid; a refusal does (the store decides, with the reason).
 */
import type { Logger, TokenKey, TokenStore } from './token-store.js';

export interface RenewalScheduleOptions {
  tokens: TokenStore;
  log: Logger;
  /** First retry after a transient failure; doubled each time up to `retryMaxMs`. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** The longest sleep between looks: settings change and a lab moves the clock. */
  maxSleepMs?: number;
  /** Told after each pass (the notifier looks at the forecasts then). */
  onPass?: () => void;
}

export class RenewalSchedule {
  readonly #tokens: TokenStore;
  readonly #log: Logger;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;
  readonly #maxSleepMs: number;
  readonly #onPass: (() => void) | undefined;
  /** Transient failures per grant: when to try again. Kept in memory: after a restart it tries at once. */
  readonly #retries = new Map<string, { attempts: number; at: number }>();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #closed = false;

  constructor(options: RenewalScheduleOptions) {
    this.#tokens = options.tokens;
    this.#log = options.log;
    this.#retryBaseMs = options.retryBaseMs ?? 60_000;
    this.#retryMaxMs = options.retryMaxMs ?? 6 * 60 * 60_000;
    this.#maxSleepMs = options.maxSleepMs ?? 60 * 60_000;
    this.#onPass = options.onPass;
  }

  start(): void {
    this.#sleep(0);
  }

  /** Renews every grant that is due now; resolves when done (tests call it after moving the clock). */
  runDue(): Promise<void> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  /** When the next grant is due (a renewal or a retry), on the store's clock; null when none is. */
  nextDueAt(): number | null {
    let next: number | null = null;
    for (const key of this.#tokens.tokenKeys()) {
      const due = this.#dueAt(key);
      if (due !== null && (next === null || due < next)) next = due;
    }
    return next;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  #dueAt(key: TokenKey): number | null {
    const status = this.#tokens.status(key);
    if (status.state !== 'obtained' || !status.life || status.life.nextRenewalAt === null) return null;
    // A retry stands only while the renewal is still overdue (a mail may have renewed the grant since).
    const retry = this.#retries.get(this.#id(key, status.life.grantAt));
    // Past a known end (a Testing app's 7 days), one renewal lets the provider say so: Invalid now, not at the next mail.
    const due = Math.min(status.life.nextRenewalAt, status.life.signInBy ?? Infinity);
    return retry && due <= this.#tokens.now() ? retry.at : due;
  }

  #id(key: TokenKey, grantAt: number): string {
    return `${key.providerId}\u0000${key.account}\u0000${grantAt}`;
  }

  async #pass(): Promise<void> {
    for (const key of this.#tokens.tokenKeys()) {
      if (this.#closed) return;
      const due = this.#dueAt(key);
      const grantAt = this.#tokens.status(key).life?.grantAt;
      if (due === null || grantAt === undefined || due > this.#tokens.now()) continue;
      const id = this.#id(key, grantAt);
      try {
        const outcome = await this.#tokens.keepAlive(key);
        if (outcome && outcome.kind !== 'transient') {
          // Renewed (the forecast moves on) or refused (Invalid, with the reason: nothing left to renew).
          this.#retries.delete(id);
          this.#log.info({ renewal: key.account, outcome: outcome.kind }, 'scheduled token renewal');
          continue;
        }
        this.#retryLater(id, key, outcome?.reason.code ?? 'not_renewable');
      } catch (err) {
        // The provider was deleted meanwhile, or a bug: never let it stop the schedule.
        this.#log.error({ renewal: key.account, err: err instanceof Error ? err.message : String(err) }, 'scheduled token renewal failed');
        this.#retryLater(id, key, 'error');
      }
    }
    try {
      this.#onPass?.();
    } catch (err) {
      this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'after the renewal pass');
    }
  }

  #retryLater(id: string, key: TokenKey, reason: string): void {
    const attempts = (this.#retries.get(id)?.attempts ?? 0) + 1;
    const at = this.#tokens.now() + this.backoffMs(attempts);
    this.#retries.set(id, { attempts, at });
    this.#log.warn({ renewal: key.account, attempts, reason, retryAt: new Date(at).toISOString() }, 'scheduled token renewal failed for now: trying again later');
  }

  /** Exponential, capped, half fixed and half random so devices do not retry in step. */
  backoffMs(attempt: number): number {
    const ceiling = Math.min(this.#retryMaxMs, this.#retryBaseMs * 2 ** Math.min(attempt - 1, 30));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  #sleep(ms: number): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      void this.runDue().finally(() => {
        const next = this.nextDueAt();
        // At least a second: a grant that cannot be renewed must not spin the loop.
        this.#sleep(next === null ? this.#maxSleepMs : Math.min(Math.max(1_000, next - this.#tokens.now()), this.#maxSleepMs));
      });
    }, ms);
    this.#timer.unref();
  }
}
