import path from 'node:path';
import type { Locale, MessageKey } from '../i18n/index.js';
import { storedVersion, type Services } from '../services.js';
import type { SecretToReenter } from '../security/device-key-check.js';
import { MAIL_PURPOSES, mailForms, mailPagePaths } from '../settings/pages.js';

/** One notice about the device's storage, as the home page (and the pages concerned) show it. */
export interface StorageNotice {
  kind: 'full' | 'gone' | 'recovery' | 'key_replaced';
  title: string;
  lines: string[];
  /** What must be done, each with the page where it is done. */
  items: { text: string; href: string }[];
  /** Recovery mode: the admin may dismiss it once dealt with. */
  dismissible: boolean;
}

export const PROVIDERS_PATH = '/settings/network/oauth-servers';

/**
 * Every page asks (its notices), so the list is kept: a secret is retired or entered again only in
 * a token, a setting or a provider, and each of their stores moves its version on every write (the
 * key check at start, which retires and restores secrets, moves the settings' through forgetCached).
 */
const keptSecrets = new WeakMap<Services, { inputs: string; secrets: readonly SecretToReenter[] }>();

function secretsToReenter(services: Services): readonly SecretToReenter[] {
  const inputs = storedVersion(services);
  const kept = keptSecrets.get(services);
  if (kept?.inputs === inputs) return kept.secrets;
  const secrets = Object.freeze(services.storage.secretsToReenter());
  keptSecrets.set(services, { inputs, secrets });
  return secrets;
}

function reenterItem(services: Services, secret: SecretToReenter, { t }: Locale): { text: string; href: string } {
  if (secret.source === 'provider') return { text: t('storage.keyReplaced.clientSecret', { name: secret.label }), href: `${PROVIDERS_PATH}/${secret.ref}` };
  if (secret.source === 'settings') {
    const purpose = MAIL_PURPOSES.find((p) => mailForms[p].id === secret.ref);
    const spec = purpose ? mailForms[purpose] : undefined;
    const field = spec?.fields.find((f) => f.name === secret.field);
    return {
      text: t('storage.keyReplaced.setting', { page: spec ? t(spec.title) : secret.ref, field: field ? t(field.label as MessageKey) : secret.field }),
      href: purpose ? mailPagePaths[purpose] : '/',
    };
  }
  const [providerId, ...account] = secret.ref.split('/');
  const purpose = services.accounts.purposesUsing({ providerId: Number(providerId), account: account.join('/') })[0];
  return { text: t('storage.keyReplaced.token', { name: secret.label }), href: purpose ? mailPagePaths[purpose] : PROVIDERS_PATH };
}

/**
 * The storage notices: all of them for the home page (`forPath` undefined); on another page the ones
 * that stop its saves (full, gone) and the secrets to enter again on that very page.
 */
export function storageNotices(services: Services, locale: Locale, forPath?: string): StorageNotice[] {
  const { t } = locale;
  const { storage, config } = services;
  const notices: StorageNotice[] = [];
  const problem = storage.problemToShow();
  if (problem === 'full') {
    notices.push({ kind: 'full', title: t('storage.full.title'), lines: [t('storage.full.text'), t('storage.full.todo', { dir: config.dataDir })], items: [], dismissible: false });
  } else if (problem === 'gone') {
    notices.push({ kind: 'gone', title: t('storage.gone.title'), lines: [t('storage.gone.text', { file: path.join(config.dataDir, 'device.db') }), t('storage.gone.todo')], items: [], dismissible: false });
  }
  const recovery = forPath === undefined ? storage.recovery() : undefined;
  if (recovery) {
    notices.push({
      kind: 'recovery',
      title: t('storage.recovery.title'),
      lines: [
        t(recovery.reason === 'empty' ? 'storage.recovery.empty' : 'storage.recovery.corrupt', { time: locale.dateTime(recovery.at), detail: recovery.detail }),
        t('storage.recovery.movedTo', { file: recovery.damagedFile }),
        t('storage.recovery.outbox', { dir: services.sender.outbox.files.dir }),
        t('storage.recovery.todo'),
      ],
      items: [],
      dismissible: true,
    });
  }
  const items = secretsToReenter(services).map((secret) => reenterItem(services, secret, locale)).filter((item) => forPath === undefined || item.href === forPath);
  if (items.length) notices.push({ kind: 'key_replaced', title: t('storage.keyReplaced.title'), lines: [t('storage.keyReplaced.text')], items, dismissible: false });
  return notices;
}
