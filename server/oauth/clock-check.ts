/**
 * The clock check: each answer of a provider carries its HTTP `Date`; compared with the device's
 * clock it shows a printer whose clock is wrong, which breaks tokens in the field (refused as expired
 * or not yet valid) long before anyone thinks of the clock. Kept in memory: every token call measures anew.
 */

/** More than this apart is shown as a warning on the pages. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

export interface ClockSkew {
  providerId: number;
  /** Positive: the device is ahead of the provider. */
  skewMs: number;
  /** When it was measured (device clock). */
  at: number;
}

export class ClockCheck {
  readonly #latest = new Map<number, ClockSkew>();
  #version = 0;

  /** Moves on with every measurement kept or forgotten. */
  get version(): number {
    return this.#version;
  }

  /** One answer: sent and received on the device's clock, and the provider's `Date` header. */
  observe(providerId: number, sentAt: number, receivedAt: number, dateHeader: string | null): void {
    const providerTime = dateHeader ? Date.parse(dateHeader) : NaN;
    if (!Number.isFinite(providerTime)) return;
    // The header has whole seconds and was written somewhere between sending and receiving: only
    // what lies beyond that uncertainty is skew.
    const slack = (receivedAt - sentAt) / 2 + 1_000;
    const raw = (sentAt + receivedAt) / 2 - providerTime;
    const skewMs = Math.abs(raw) <= slack ? 0 : raw - Math.sign(raw) * slack;
    this.#latest.set(providerId, { providerId, skewMs: Math.round(skewMs), at: receivedAt });
    this.#version++;
  }

  /** The latest measurement of each provider whose clock is more than MAX_CLOCK_SKEW_MS from the device's. */
  warnings(): ClockSkew[] {
    return [...this.#latest.values()].filter((skew) => Math.abs(skew.skewMs) > MAX_CLOCK_SKEW_MS);
  }

  forget(providerId: number): void {
    if (this.#latest.delete(providerId)) this.#version++;
  }
}
