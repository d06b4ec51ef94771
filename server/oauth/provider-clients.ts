import type * as client from 'openid-client';
import { openid } from './openid.js';
import { providerFetch, type ProviderRequestInit } from './provider-http.js';
import type { Provider } from '../settings/providers.js';
import { isLoopbackHost } from '../settings/form.js';
import { fixedEndpoints, type Authorities, type Endpoints } from './provider-profiles.js';
import type { ClockCheck } from './clock-check.js';

export interface ProviderClientsOptions {
  /** The device's clock (the simulator moves it). */
  clock?: () => number;
  /** Told of each provider answer's `Date` header. */
  clockCheck?: ClockCheck;
}

/** How long one request to a provider may take; a printer must not hang on a dead network. */
export const PROVIDER_TIMEOUT_SECONDS = 15;

const ENDPOINT_NAMES = ['authorization_endpoint', 'token_endpoint', 'device_authorization_endpoint', 'revocation_endpoint'] as const;
export type EndpointName = (typeof ENDPOINT_NAMES)[number];

/** What the Test button learnt, as data: the page words it in the admin's language. */
export type ProviderTestResult =
  | { ok: true; issuer: string; endpoints: EndpointName[]; tokenEndpointStatus: number }
  | { ok: false; detail: string };

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

  readonly #clock: () => number;
  readonly #clockCheck: ClockCheck | undefined;

  constructor(
    private readonly clientSecretOf: (providerId: number) => string | undefined,
    private readonly authorities: Authorities,
    options: ProviderClientsOptions = {},
  ) {
    this.#clock = options.clock ?? Date.now;
    this.#clockCheck = options.clockCheck;
  }

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

  /**
   * The Test button: can the device reach the provider, and what does it offer? Discovery for a custom
   * issuer; for fixed endpoints, any HTTP answer from the token endpoint proves it is reachable.
   */
  async test(provider: Provider): Promise<ProviderTestResult> {
    this.forget(provider.id);
    try {
      const config = await this.configuration(provider);
      const metadata = config.serverMetadata();
      const endpoints = ENDPOINT_NAMES.filter((name) => metadata[name]);
      const response = await providerFetch(metadata.token_endpoint!, { method: 'POST', signal: AbortSignal.timeout(PROVIDER_TIMEOUT_SECONDS * 1000) });
      return { ok: true, issuer: metadata.issuer, endpoints, tokenEndpointStatus: response.status };
    } catch (err) {
      const cause = err instanceof DiscoveryError ? err.cause : err;
      const message = cause instanceof Error ? `${cause.message}${cause.cause instanceof Error ? `: ${cause.cause.message}` : ''}` : String(cause);
      return { ok: false, detail: message.slice(0, 300) };
    }
  }

  forget(providerId: number): void {
    this.#cache.delete(providerId);
    this.#clockCheck?.forget(providerId);
  }

  /**
   * Every request to the provider goes through here: over the device's own HTTP client (provider-http.ts:
   * Node's fetch would cost the device 10 MB), and its answer's `Date` is compared with the device clock.
   */
  #observe(client: typeof import('openid-client'), provider: Provider, config: client.Configuration): client.Configuration {
    const check = this.#clockCheck;
    config[client.customFetch] = (async (url: string, options: ProviderRequestInit) => {
      const sentAt = this.#clock();
      const response = await providerFetch(url, options);
      check?.observe(provider.id, sentAt, this.#clock(), response.headers.get('date'));
      return response;
    }) as unknown as client.CustomFetch;
    return config;
  }

  async #build(provider: Provider): Promise<client.Configuration> {
    const client = await openid();
    const secret = this.clientSecretOf(provider.id);
    const auth = secret ? client.ClientSecretPost(secret) : client.None();
    const endpoints = fixedEndpoints(provider, this.authorities);
    if (endpoints) {
      const config = new client.Configuration(endpoints as client.ServerMetadata, provider.clientId, undefined, auth);
      if (usesPlainHttp(endpoints)) client.allowInsecureRequests(config);
      config.timeout = PROVIDER_TIMEOUT_SECONDS;
      return this.#observe(client, provider, config);
    }
    const issuer = new URL(provider.issuerUrl);
    try {
      const config = await client.discovery(issuer, provider.clientId, undefined, auth, {
        execute: issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname) ? [client.allowInsecureRequests] : [],
        timeout: PROVIDER_TIMEOUT_SECONDS,
        [client.customFetch]: providerFetch as unknown as client.CustomFetch,
      });
      config.timeout = PROVIDER_TIMEOUT_SECONDS;
      return this.#observe(client, provider, config);
    } catch (err) {
      throw new DiscoveryError(`discovery of ${issuer.origin} failed`, err);
    }
  }
}

/**
 * http:// is accepted only on loopback (labs, tests): validation refuses it elsewhere, and this
 * refuses a configuration that mixes in any non-loopback plain-HTTP endpoint.
 */
function usesPlainHttp(endpoints: Endpoints): boolean {
  const urls = Object.values(endpoints).filter((value): value is string => typeof value === 'string').map((value) => new URL(value));
  const plain = urls.filter((url) => url.protocol === 'http:');
  if (plain.some((url) => !isLoopbackHost(url.hostname))) throw new DiscoveryError('plain http:// endpoint outside loopback', undefined);
  return plain.length > 0;
}
