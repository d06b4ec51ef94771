/**
 * Slows down guessing the admin password, wherever it is asked (the login page, the password page's
 * "current password"): a client address that got it wrong `max` times within the window must wait
 * until the oldest of those failures leaves it. Only failures count — a successful login, a form
 * refused for its CSRF token or a page view costs nothing — so the admin is never locked out by
 * using the panel. One budget per address for both places: they guess the same secret.
 */
export interface GuessLimiterOptions {
  max?: number;
  windowMs?: number;
  /** Addresses remembered at most (the oldest are forgotten first), so the map cannot grow unbounded. */
  maxClients?: number;
}

export class GuessLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #maxClients: number;
  /** Failure times per client address, oldest first. */
  readonly #failures = new Map<string, number[]>();

  constructor(options: GuessLimiterOptions = {}) {
    this.#max = options.max ?? 5;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxClients = options.maxClients ?? 1000;
  }

  /** 0 when `client` may try now, else the whole seconds to wait. */
  waitSeconds(client: string, now = Date.now()): number {
    const recent = this.#recent(client, now);
    if (recent.length < this.#max) return 0;
    return Math.max(1, Math.ceil((recent[recent.length - this.#max]! + this.#windowMs - now) / 1000));
  }

  recordFailure(client: string, now = Date.now()): void {
    const recent = this.#recent(client, now);
    recent.push(now);
    // Re-inserted, so the map's order is "least recently failed first".
    this.#failures.delete(client);
    this.#failures.set(client, recent.slice(-this.#max));
    if (this.#failures.size > this.#maxClients) this.#failures.delete(this.#failures.keys().next().value!);
  }

  #recent(client: string, now: number): number[] {
    const times = (this.#failures.get(client) ?? []).filter((at) => at > now - this.#windowMs);
    if (times.length === 0) this.#failures.delete(client);
    return times;
  }
}
