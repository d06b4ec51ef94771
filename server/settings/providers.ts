import type { Db } from '../db/database.js';
import type { SecretBox } from '../security/secret-box.js';
import type { FormSpec, FormValues } from './form.js';

/**
 * OAuth authorization servers the device may use. Only "custom" (OpenID discovery) exists today; the
 * Microsoft 365 and Google Workspace types add their own fields (tenant, fixed endpoints) to this list.
 */
export const PROVIDER_TYPES = ['custom'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

export interface Provider {
  id: number;
  name: string;
  type: ProviderType;
  issuerUrl: string;
  clientId: string;
  smtpScope: string;
  popScope: string;
  extraScope: string;
  hasClientSecret: boolean;
  updatedAt: number;
}

export const providerForm: FormSpec = {
  id: 'provider',
  title: 'providers.edit',
  breadcrumb: ['menu.systemSettings', 'menu.networkSettings', 'menu.oauthServers'],
  fields: [
    { name: 'name', label: 'providers.name', type: 'text', required: true, maxLength: 64 },
    { name: 'type', label: 'providers.type', type: 'select', required: true, default: 'custom', choices: [{ value: 'custom', label: 'providerType.custom' }] },
    { name: 'issuerUrl', label: 'providers.issuer', type: 'url', help: 'providers.issuerHelp', required: true, when: { field: 'type', in: ['custom'] } },
    { name: 'clientId', label: 'providers.clientId', type: 'text', required: true, maxLength: 255 },
    { name: 'clientSecret', label: 'providers.clientSecret', type: 'secret', help: 'providers.clientSecretHelp', maxLength: 512 },
    { name: 'smtpScope', label: 'providers.smtpScope', type: 'scope', required: true, maxLength: 512 },
    { name: 'popScope', label: 'providers.popScope', type: 'scope', required: true, maxLength: 512 },
    { name: 'extraScope', label: 'providers.extraScope', type: 'scope', help: 'providers.extraScopeHelp', maxLength: 512, default: 'offline_access' },
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
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  #toProvider(row: ProviderRow): Provider {
    const settings = JSON.parse(row.json) as Record<string, string>;
    return {
      id: row.id,
      name: row.name,
      type: row.type as ProviderType,
      issuerUrl: settings.issuerUrl ?? '',
      clientId: settings.clientId ?? '',
      smtpScope: settings.smtpScope ?? '',
      popScope: settings.popScope ?? '',
      extraScope: settings.extraScope ?? '',
      hasClientSecret: row.client_secret_enc !== null,
      updatedAt: row.updated_at,
    };
  }

  list(): Provider[] {
    return (this.db.prepare('SELECT * FROM providers ORDER BY name').all() as ProviderRow[]).map((row) => this.#toProvider(row));
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
    const { name, type, ...settings } = values;
    const json = JSON.stringify(settings);
    const now = Date.now();
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
  }
}

/** The scope a token needs to serve the given purposes at this provider (deduplicated, stable order). */
export function scopeFor(provider: Provider, purposes: Iterable<'smtp' | 'pop'>): string {
  const parts: string[] = [];
  for (const purpose of purposes) parts.push(...(purpose === 'smtp' ? provider.smtpScope : provider.popScope).split(' '));
  parts.push(...provider.extraScope.split(' '));
  return [...new Set(parts.filter(Boolean))].join(' ');
}
