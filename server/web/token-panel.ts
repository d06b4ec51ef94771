import { hasMessage, type Locale, type MessageKey, type Translate } from '../i18n/index.js';
import type { Services } from '../services.js';
import type { Reason, TokenState } from '../oauth/token-state.js';
import { scopesOf } from '../oauth/provider-profiles.js';
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

export function tokenPanel(services: Services, purpose: MailPurpose, locale: Locale, now = Date.now()): TokenPanel {
  const { t } = locale;
  const key = services.accounts.keyFor(purpose);
  const provider = key ? services.providers.get(key.providerId) : undefined;
  if (!key || !provider) {
    return {
      purpose, configured: false, providerName: null, account: null, state: 'not_obtained', stateLabel: t('token.state.not_obtained'),
      reason: null, remedy: null, warning: null, pending: null, expiresAt: null, sharedWith: [], canGet: false, canDelete: false, timedOut: false,
    };
  }
  const status = services.tokens.status(key, now);
  const sharedWith = services.accounts.purposesUsing(key).filter((other) => other !== purpose).map((other) => ({ purpose: other, title: t(mailForms[other].title) }));
  const { reason, remedy } = reasonText(status.reason, t);
  const pending = status.pending;
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
  };
}
