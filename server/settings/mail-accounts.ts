import type { TokenKey } from '../oauth/token-store.js';
import { normalizeAccount } from '../oauth/token-store.js';
import { mailForms, MAIL_PURPOSES, type MailPurpose } from './pages.js';
import { scopeFor, type ScopeUse } from '../oauth/provider-profiles.js';
import type { Provider, ProviderRepository } from './providers.js';
import type { SettingsRepository } from './settings-repository.js';

/**
 * Which saved page uses which (provider, account) token. When SMTP and POP name the same provider and
 * account they share one token, asked with the scopes of both.
 */
export class MailAccounts {
  constructor(
    private readonly settings: SettingsRepository,
    private readonly providers: ProviderRepository,
  ) {}

  /** The token a page uses, if it is saved with OAuth 2.0. */
  keyFor(purpose: MailPurpose): TokenKey | undefined {
    const spec = mailForms[purpose];
    if (!this.settings.isSaved(spec)) return undefined;
    const values = this.settings.values(spec);
    if (values.authMethod !== 'oauth2' || !values.providerId || !values.account) return undefined;
    return { providerId: Number(values.providerId), account: normalizeAccount(String(values.account)) };
  }

  purposesUsing(key: TokenKey): MailPurpose[] {
    return MAIL_PURPOSES.filter((purpose) => {
      const other = this.keyFor(purpose);
      return other !== undefined && other.providerId === key.providerId && other.account === normalizeAccount(key.account);
    });
  }

  purposesUsingProvider(providerId: number): MailPurpose[] {
    return MAIL_PURPOSES.filter((purpose) => this.keyFor(purpose)?.providerId === providerId);
  }

  /** What a page's token is for: the E-mail Status page receives by POP3 or by IMAP. */
  scopeUse(purpose: MailPurpose): ScopeUse {
    return purpose === 'pop' && this.settings.values(mailForms.pop).protocol === 'imap' ? 'imap' : purpose;
  }

  /** The scope to ask for: what every page sharing this token needs. */
  scopeFor(key: TokenKey, provider: Provider): string {
    return scopeFor(provider, this.purposesUsing(key).map((purpose) => this.scopeUse(purpose)));
  }

  providerOf(key: TokenKey): Provider | undefined {
    return this.providers.get(key.providerId);
  }
}
