/**
 * What needs the admin's attention about tokens, for the home page's notice and the menu's badges:
 * a token that is Invalid, one that will need a new sign-in within 7 days, a device clock that is
 * off. Each names the page where it is fixed. Also what the notifier tells the alert recipients.
 */
import { storedVersion, type Services } from '../services.js';
import { MAIL_PURPOSES, mailForms, mailPagePaths, type MailPurpose } from '../settings/pages.js';
import type { Locale, Translate } from '../i18n/index.js';
import { clockWarning, tokenPanel } from './token-panel.js';

export interface TokenNotice {
  kind: 'invalid' | 'sign_in_soon' | 'clock';
  text: string;
  /** What to do, where the reason has one. */
  remedy: string | null;
  /** The page that fixes it, and the link's words. */
  href: string | null;
  fix: string | null;
  purpose: MailPurpose | null;
  /** Invalid and sign-in notices: the token (provider, account) and when its grant began, to tell one cause from the next. */
  cause: string | null;
}

/**
 * Every page asks (the menu badges), so the notices are kept: they change only with a token, the
 * settings, a provider or a clock measurement (each store's version), or as the device's clock moves
 * on, for which this is how late a notice may be (a sign-in deadline is days away).
 */
const NOTICES_KEPT_MS = 1_000;

interface KeptNotices {
  inputs: string;
  at: number;
  notices: readonly TokenNotice[];
}

/** Per device (a test process runs several), per language. */
const kept = new WeakMap<Services, Map<Locale, KeptNotices>>();

const inputsOf = (services: Services) => `${storedVersion(services)}.${services.clockCheck.version}`;

export function tokenNotices(services: Services, locale: Locale): readonly TokenNotice[] {
  const now = services.clock();
  const inputs = inputsOf(services);
  let byLocale = kept.get(services);
  if (!byLocale) kept.set(services, (byLocale = new Map()));
  const last = byLocale.get(locale);
  if (last && last.inputs === inputs && now >= last.at && now - last.at < NOTICES_KEPT_MS) return last.notices;
  const notices = Object.freeze(noticesNow(services, locale, now));
  byLocale.set(locale, { inputs, at: now, notices });
  return notices;
}

function noticesNow(services: Services, locale: Locale, now: number): TokenNotice[] {
  const { t } = locale;
  const notices: TokenNotice[] = [];
  const providersInUse = new Set<number>();
  for (const purpose of MAIL_PURPOSES) {
    const panel = tokenPanel(services, purpose, locale, now);
    const key = services.accounts.keyFor(purpose);
    if (!panel.configured || !key) continue;
    providersInUse.add(key.providerId);
    const page = t(mailForms[purpose].title);
    const link = { href: `${mailPagePaths[purpose]}#token`, fix: t('notice.fix', { page }), purpose };
    const grantAt = services.tokens.status(key, now).life?.grantAt ?? 0;
    const cause = `${key.providerId}:${key.account}:${grantAt}`;
    if (panel.state === 'invalid') {
      notices.push({ kind: 'invalid', text: t('notice.invalid', { page, reason: panel.reason ?? panel.stateLabel }), remedy: panel.remedy, ...link, cause: `invalid:${cause}` });
    } else if (panel.life?.signInSoon && panel.life.signInByAt !== null) {
      notices.push({ kind: 'sign_in_soon', text: t('notice.signInSoon', { page, time: locale.dateTime(panel.life.signInByAt) }), remedy: panel.life.testing, ...link, cause: `ending:${cause}` });
    }
  }
  for (const providerId of providersInUse) {
    const warning = clockWarning(services, providerId, locale);
    if (warning) notices.push({ kind: 'clock', text: warning, remedy: null, href: null, fix: null, purpose: null, cause: null });
  }
  return notices;
}

/** The menu items (by href) that carry a badge: their page has a token needing attention. */
export function menuBadges(notices: readonly TokenNotice[], t: Translate): Record<string, string> {
  const badges: Record<string, string> = {};
  for (const notice of notices) if (notice.purpose) badges[mailPagePaths[notice.purpose]] = t('notice.badge');
  return badges;
}
