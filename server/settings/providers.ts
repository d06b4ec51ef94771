import type { Db } from '../db/database.js';
import type { SecretBox } from '../security/secret-box.js';
import type { FormSpec, FormValues } from './form.js';

/**
 * OAuth authorization servers the device may use. Microsoft 365 and Google Workspace have fixed
 * endpoints and scopes (see oauth/provider-profiles.ts); "custom" is any OAuth server, found by OpenID
 * discovery or given endpoint by endpoint, with the grant the admin chooses.
 */
export const PROVIDER_TYPES = ['microsoft365', 'microsoft365-app', 'google', 'custom'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

export const GRANTS = ['device_code', 'authorization_code', 'client_credentials'] as const;
export type Grant = (typeof GRANTS)[number];

export interface Provider {
  id: number;
  name: string;
  type: ProviderType;
  /** Microsoft: tenant ID, domain, or organizations/common. */
  tenant: string;
  /** Custom: OpenID discovery, or endpoints typed in. */
  endpointMode: 'discovery' | 'manual';
  issuerUrl: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  deviceAuthorizationEndpoint: string;
  revocationEndpoint: string;
  /** Custom only; the other types have a fixed grant. */
  grant: Grant;
  clientId: string;
  smtpScope: string;
  popScope: string;
  extraScope: string;
  /** Google: an app left in "Testing" gets refresh tokens that end 7 days after the sign-in. */
  publishingStatus: 'production' | 'testing';
  hasClientSecret: boolean;
  updatedAt: number;
}

const MICROSOFT = ['microsoft365', 'microsoft365-app'];
const CUSTOM = ['custom'];

export const providerForm: FormSpec = {
  id: 'provider',
  title: 'providers.edit',
  fields: [
    { name: 'name', label: 'providers.name', type: 'text', required: true, maxLength: 64 },
    {
      name: 'type', label: 'providers.type', type: 'select', required: true, default: 'microsoft365',
      choices: [
        { value: 'microsoft365', label: 'providerType.microsoft365' },
        { value: 'microsoft365-app', label: 'providerType.microsoft365-app' },
        { value: 'google', label: 'providerType.google' },
        { value: 'custom', label: 'providerType.custom' },
      ],
    },
    { name: 'tenant', label: 'providers.tenant', type: 'tenant', help: 'providers.tenantHelp', required: true, maxLength: 128, when: { field: 'type', in: MICROSOFT } },
    {
      name: 'endpointMode', label: 'providers.endpointMode', type: 'select', required: true, default: 'discovery', when: { field: 'type', in: CUSTOM },
      choices: [{ value: 'discovery', label: 'providers.endpointMode.discovery' }, { value: 'manual', label: 'providers.endpointMode.manual' }],
    },
    { name: 'issuerUrl', label: 'providers.issuer', type: 'url', help: 'providers.issuerHelp', required: true, when: { field: 'endpointMode', in: ['discovery'] } },
    { name: 'authorizationEndpoint', label: 'providers.authorizationEndpoint', type: 'url', when: { field: 'endpointMode', in: ['manual'] } },
    { name: 'tokenEndpoint', label: 'providers.tokenEndpoint', type: 'url', required: true, when: { field: 'endpointMode', in: ['manual'] } },
    { name: 'deviceAuthorizationEndpoint', label: 'providers.deviceAuthorizationEndpoint', type: 'url', when: { field: 'endpointMode', in: ['manual'] } },
    { name: 'revocationEndpoint', label: 'providers.revocationEndpoint', type: 'url', when: { field: 'endpointMode', in: ['manual'] } },
    {
      name: 'grant', label: 'providers.grant', type: 'select', required: true, default: 'device_code', when: { field: 'type', in: CUSTOM },
      choices: [
        { value: 'device_code', label: 'grant.device_code' },
        { value: 'authorization_code', label: 'grant.authorization_code' },
        { value: 'client_credentials', label: 'grant.client_credentials' },
      ],
    },
    { name: 'clientId', label: 'providers.clientId', type: 'text', required: true, maxLength: 255 },
    {
      name: 'clientSecret', label: 'providers.clientSecret', type: 'secret', help: 'providers.clientSecretHelp', maxLength: 512,
      requiredWhen: { field: 'type', in: ['microsoft365-app', 'google'] },
    },
    {
      name: 'publishingStatus', label: 'providers.publishingStatus', type: 'select', required: true, default: 'production', help: 'providers.publishingStatusHelp', when: { field: 'type', in: ['google'] },
      choices: [{ value: 'production', label: 'providers.publishingStatus.production' }, { value: 'testing', label: 'providers.publishingStatus.testing' }],
    },
    { name: 'smtpScope', label: 'providers.smtpScope', type: 'scope', required: true, maxLength: 512, when: { field: 'type', in: CUSTOM } },
    { name: 'popScope', label: 'providers.popScope', type: 'scope', required: true, maxLength: 512, when: { field: 'type', in: CUSTOM } },
    { name: 'extraScope', label: 'providers.extraScope', type: 'scope', help: 'providers.extraScopeHelp', maxLength: 512, default: 'offline_access', when: { field: 'type', in: CUSTOM } },
  ],
};

interface ProviderRow {
  id: number;
  name: string;
  type: string;
  json: string;
  client_secret_enc: string | null;
  updated_at: number;
}

export class ProviderRepository {
  #version = 0;
  #listed: { version: number; providers: readonly Provider[] } | undefined;

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  /** Moves on with every provider saved or deleted: what is derived from them can be kept until then. */
  get version(): number {
    return this.#version;
  }

  #toProvider(row: ProviderRow): Provider {
    const settings = JSON.parse(row.json) as Record<string, string>;
    const text = (name: string) => settings[name] ?? '';
    return {
      id: row.id,
      name: row.name,
      type: row.type as ProviderType,
      tenant: text('tenant'),
      endpointMode: settings.endpointMode === 'manual' ? 'manual' : 'discovery',
      issuerUrl: text('issuerUrl'),
      authorizationEndpoint: text('authorizationEndpoint'),
      tokenEndpoint: text('tokenEndpoint'),
      deviceAuthorizationEndpoint: text('deviceAuthorizationEndpoint'),
      revocationEndpoint: text('revocationEndpoint'),
      grant: (GRANTS as readonly string[]).includes(text('grant')) ? (text('grant') as Grant) : 'device_code',
      clientId: text('clientId'),
      smtpScope: text('smtpScope'),
      popScope: text('popScope'),
      extraScope: text('extraScope'),
      publishingStatus: settings.publishingStatus === 'testing' ? 'testing' : 'production',
      hasClientSecret: row.client_secret_enc !== null,
      updatedAt: row.updated_at,
    };
  }

  /**
   * Every SMTP and POP page lists the providers, so the list is kept until one is saved or deleted.
   * Only this repository writes the table once the device runs (the device key check at start, which
   * retires and restores client secrets, runs before it exists).
   */
  list(): readonly Provider[] {
    if (this.#listed?.version !== this.#version) {
      const providers = (this.db.prepare('SELECT * FROM providers ORDER BY name').all() as ProviderRow[]).map((row) => Object.freeze(this.#toProvider(row)));
      this.#listed = { version: this.#version, providers: Object.freeze(providers) };
    }
    return this.#listed.providers;
  }

  get(id: number): Provider | undefined {
    const row = this.db.prepare('SELECT * FROM providers WHERE id = ?').get(id) as ProviderRow | undefined;
    return row ? this.#toProvider(row) : undefined;
  }

  findByName(name: string): Provider | undefined {
    const row = this.db.prepare('SELECT * FROM providers WHERE name = ? COLLATE NOCASE').get(name) as ProviderRow | undefined;
    return row ? this.#toProvider(row) : undefined;
  }

  clientSecret(id: number): string | undefined {
    const row = this.db.prepare('SELECT client_secret_enc FROM providers WHERE id = ?').get(id) as { client_secret_enc: string | null } | undefined;
    return this.box.openOptional(row?.client_secret_enc);
  }

  /** Creates (id undefined) or updates a provider; a blank secret keeps the stored one. Returns the id. */
  save(id: number | undefined, values: FormValues, clientSecret: string | undefined): number {
    this.#version++;
    const { name, type, ...settings } = values;
    const json = JSON.stringify(settings);
    // updated_at also versions the cached client configuration: it must change on every save.
    const now = Math.max(Date.now(), (this.get(id ?? -1)?.updatedAt ?? 0) + 1);
    if (id === undefined) {
      const info = this.db
        .prepare('INSERT INTO providers (name, type, json, client_secret_enc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(String(name), String(type), json, this.box.sealOptional(clientSecret), now, now);
      return Number(info.lastInsertRowid);
    }
    this.db
      .prepare('UPDATE providers SET name = ?, type = ?, json = ?, client_secret_enc = COALESCE(?, client_secret_enc), updated_at = ? WHERE id = ?')
      .run(String(name), String(type), json, this.box.sealOptional(clientSecret), now, id);
    return id;
  }

  delete(id: number): void {
    this.db.prepare('DELETE FROM providers WHERE id = ?').run(id);
    this.#version++;
  }
}
