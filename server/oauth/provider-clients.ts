import type * as client from 'openid-client';
import { openid } from './openid.js';
import type { Provider } from '../settings/providers.js';
import { isLoopbackHost } from '../settings/form.js';

/** How long one request to a provider may take; a printer must not hang on a dead network. */
export const PROVIDER_TIMEOUT_SECONDS = 15;

export class DiscoveryError extends Error {
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message);
  }
}

/**
 * Turns a registered provider into an openid-client Configuration. Discovery is fetched once per
 * provider version and cached; an edit of the provider (new updatedAt) fetches it again.
 */
export class ProviderClients {
  readonly #cache = new Map<number, { version: number; config: Promise<client.Configuration> }>();

  constructor(private readonly clientSecretOf: (providerId: number) => string | undefined) {}

  configuration(provider: Provider): Promise<client.Configuration> {
    const cached = this.#cache.get(provider.id);
    if (cached && cached.version === provider.updatedAt) return cached.config;
    const config = this.#build(provider);
    this.#cache.set(provider.id, { version: provider.updatedAt, config });
    // A failed discovery must not be cached: the next Get Token tries again.
    config.catch(() => {
      if (this.#cache.get(provider.id)?.config === config) this.#cache.delete(provider.id);
    });
    return config;
  }

  forget(providerId: number): void {
    this.#cache.delete(providerId);
  }

  async #build(provider: Provider): Promise<client.Configuration> {
    const client = await openid();
    const secret = this.clientSecretOf(provider.id);
    const auth = secret ? client.ClientSecretPost(secret) : client.None();
    const issuer = new URL(provider.issuerUrl);
    // http:// is accepted by validation only on loopback (labs, tests); keep that rule here too.
    const insecure = issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname);
    try {
      const config = await client.discovery(issuer, provider.clientId, undefined, auth, {
        execute: insecure ? [client.allowInsecureRequests] : [],
        timeout: PROVIDER_TIMEOUT_SECONDS,
      });
      config.timeout = PROVIDER_TIMEOUT_SECONDS;
      return config;
    } catch (err) {
      throw new DiscoveryError(`discovery of ${issuer.origin} failed`, err);
    }
  }
}
