import { hasMessage, type Locale, type MessageKey, type Translate } from '../i18n/index.js';
import type { Services } from '../services.js';
import type { Reason, TokenState } from '../oauth/token-state.js';
import { attentionOf, type GrantLife } from '../oauth/token-store.js';
import { grantRulesOf, scopesOf } from '../oauth/provider-profiles.js';
import { MAX_CLOCK_SKEW_MS } from '../oauth/clock-check.js';
import type { Provider } from '../settings/providers.js';
import { tokenCareSettings } from '../settings/token-care.js';
import { isLoopbackHost } from '../settings/form.js';
import { mailForms, type MailPurpose } from '../settings/pages.js';

/** What the "Token:" block of a page shows; also the answer of the JSON status endpoint (no secrets). */
export interface TokenPanel {
  purpose: MailPurpose;
  configured: boolean;
  providerName: string | null;
  account: string | null;
  state: TokenState;
  stateLabel: string;
  reason: string | null;
  remedy: string | null;
  warning: string | null;
  pending: {
    kind: 'device_code' | 'browser' | 'direct';
    userCode: string | null;
    verificationUri: string | null;
    verificationUriComplete: string | null;
    /** The URL the page may link to (and draw as a QR code): https, or http on a loopback host only. */
    link: string | null;
    expiresAt: number;
    secondsLeft: number;
  } | null;
  expiresAt: number | null;
  sharedWith: { purpose: MailPurpose; title: string }[];
  canGet: boolean;
  canDelete: boolean;
  /** The last sign-in ran out of time: the page offers one "Get Token again". */
  timedOut: boolean;
  /** "Obtained …, renewed …", the next renewal and the forecast end, as sentences; null without a token. */
  life: { history: string; nextRenewal: string | null; signInBy: string | null; signInByAt: number | null; signInSoon: boolean; testing: string | null; renewalsFailing: string | null } | null;
  /** Invalid, or a new sign-in needed within 7 days: the home page's notice and the menu badge. */
  needsAttention: boolean;
  /** The provider's clock and the device's are more than 5 minutes apart. */
  clockWarning: string | null;
}

/** Whether a URL from the provider may become a link: anything else (javascript:, data:, plain http) is shown as text. */
export function isSafeLink(url: string | null | undefined): url is string {
  if (!url) return false;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || (parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname));
  } catch {
    return false;
  }
}

export function reasonText(reason: Reason | null, t: Translate): { reason: string | null; remedy: string | null } {
  if (!reason) return { reason: null, remedy: null };
  const code = hasMessage(`reason.${reason.code}`) ? reason.code : 'unknown';
  const text = t(`reason.${code}` as MessageKey);
  return {
    reason: reason.detail ? `${text} (${reason.detail})` : text,
    remedy: t(`reason.${code}.remedy` as MessageKey),
  };
}

/**
 * A token obtained while only the other page used the account lacks this page's scope (e.g. POP added
 * later): say so instead of letting the first check fail. Only when the provider reported its scopes.
 */
function lacksScope(granted: string, needed: string): boolean {
  if (!granted) return false;
  const have = new Set(granted.split(' '));
  return needed.split(' ').some((scope) => scope && scope !== 'offline_access' && !have.has(scope));
}

function lifeView(services: Services, provider: Provider, life: GrantLife | null, warningAt: number | null, signInSoon: boolean, now: number, locale: Locale): TokenPanel['life'] {
  if (!life) return null;
  const { t } = locale;
  const utc = locale.dateTime;
  const limits = tokenCareSettings(services.settings).limits;
  const rules = grantRulesOf(provider, limits);
  return {
    history: life.renewedAt === null
      ? t('token.lifeNeverRenewed', { obtained: utc(life.grantAt) })
      : t('token.life', { obtained: utc(life.grantAt), renewed: utc(life.renewedAt) }),
    nextRenewal: life.nextRenewalAt === null || rules.inactivityLimitMs === null
      ? null
      : t('token.nextRenewal', { time: utc(Math.max(life.nextRenewalAt, now)), days: Math.round(rules.inactivityLimitMs / 86_400_000) }),
    signInBy: life.signInBy === null ? null : t(signInSoon ? 'token.signInBySoon' : 'token.signInBy', { time: utc(life.signInBy) }),
    signInByAt: life.signInBy,
    signInSoon,
    testing: rules.lifetimeMs !== null ? t('token.signInByTesting') : null,
    renewalsFailing: life.nextRenewalAt !== null && life.nextRenewalAt < now && warningAt !== null ? t('token.renewalsFailing', { time: utc(life.nextRenewalAt) }) : null,
  };
}

/** The clock warning for a provider, if its last answer's Date was more than 5 minutes off. */
export function clockWarning(services: Services, providerId: number, locale: Locale): string | null {
  const { t } = locale;
  const skew = services.clockCheck.warnings().find((warning) => warning.providerId === providerId);
  const provider = skew && services.providers.get(providerId);
  if (!skew || !provider || Math.abs(skew.skewMs) <= MAX_CLOCK_SKEW_MS) return null;
  return t('clock.skew', {
    minutes: Math.round(Math.abs(skew.skewMs) / 60_000),
    direction: t(skew.skewMs > 0 ? 'clock.ahead' : 'clock.behind'),
    provider: provider.name,
    time: locale.dateTime(skew.at),
  });
}

export function tokenPanel(services: Services, purpose: MailPurpose, locale: Locale, now = services.clock()): TokenPanel {
  const { t } = locale;
  const key = services.accounts.keyFor(purpose);
  const provider = key ? services.providers.get(key.providerId) : undefined;
  if (!key || !provider) {
    return {
      purpose, configured: false, providerName: null, account: null, state: 'not_obtained', stateLabel: t('token.state.not_obtained'),
      reason: null, remedy: null, warning: null, pending: null, expiresAt: null, sharedWith: [], canGet: false, canDelete: false, timedOut: false,
      life: null, needsAttention: false, clockWarning: null,
    };
  }
  const status = services.tokens.status(key, now);
  const sharedWith = services.accounts.purposesUsing(key).filter((other) => other !== purpose).map((other) => ({ purpose: other, title: t(mailForms[other].title) }));
  const { reason, remedy } = reasonText(status.reason, t);
  const pending = status.pending;
  const attention = attentionOf(status, now);
  const life = status.state === 'obtained' ? lifeView(services, provider, status.life, status.warning?.at ?? null, attention === 'sign_in_soon', now, locale) : null;
  return {
    purpose,
    configured: true,
    providerName: provider.name,
    account: key.account,
    state: status.state,
    stateLabel: t(`token.state.${status.state}`),
    reason,
    remedy,
    warning: status.warning
      ? t(status.accessExpiresAt !== null && status.accessExpiresAt <= now ? 'token.warningExpired' : 'token.warning', { time: locale.time(status.warning.at) })
      : status.state === 'obtained' && lacksScope(status.scope, scopesOf(provider)[services.accounts.scopeUse(purpose)])
        ? t('token.missingScope', { page: t(mailForms[purpose].title) })
        : null,
    pending: pending
      ? {
          kind: pending.kind,
          userCode: pending.userCode ?? null,
          verificationUri: pending.verificationUri ?? null,
          verificationUriComplete: pending.verificationUriComplete ?? null,
          link: [pending.verificationUriComplete, pending.verificationUri].find(isSafeLink) ?? null,
          expiresAt: pending.expiresAt,
          secondsLeft: Math.max(0, Math.round((pending.expiresAt - now) / 1000)),
        }
      : null,
    expiresAt: status.state === 'obtained' ? status.accessExpiresAt : null,
    sharedWith,
    canGet: status.state === 'not_obtained' || status.state === 'invalid',
    canDelete: status.state !== 'not_obtained' || status.reason !== null,
    timedOut: status.state !== 'awaiting_authorization' && ['expired_token', 'authorization_timeout'].includes(status.reason?.code ?? ''),
    life,
    needsAttention: attention !== null,
    clockWarning: clockWarning(services, provider.id, locale),
  };
}
