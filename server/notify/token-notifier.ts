/**
 * Tells someone when a token turns Invalid or will need a new sign-in soon (the same rule as the home
 * page's notice, attentionOf): an e-mail to the E-mail Alert recipients, and a syslog line, as the
 * Token Renewal and Notifications page asks. Each once per cause (the token, its grant, what
 * happened), remembered in the database so a restart does not send again; a channel that failed is
 * tried again on the next look (after each change of a token and each renewal pass).
 *
 * The mail goes through the SMTP page's account when that still works (through the outbox, so it is
 * not lost); when the dead token is the SMTP page's own, through the SMTP-AUTH fallback server.
 */
import os from 'node:os';
import type { Db } from '../db/database.js';
import { alertSettings, shortModel } from '../firmware/alerts.js';
import { localeFor } from '../i18n/index.js';
import { deviceLanguage } from '../settings/device-preferences.js';
import { loadNodemailer, smtpConnection, type MailSender } from '../mail/sender.js';
import { attentionOf, normalizeAccount, type CredentialView, type Logger, type TokenKey, type TokenStore } from '../oauth/token-store.js';
import type { MailAccounts } from '../settings/mail-accounts.js';
import { mailForms, type MailPurpose } from '../settings/pages.js';
import type { ProviderRepository } from '../settings/providers.js';
import type { SettingsRepository } from '../settings/settings-repository.js';
import { tokenCareSettings, type FallbackServer } from '../settings/token-care.js';
import { formatSyslog, sendSyslog } from './syslog.js';


export interface TokenNotifierOptions {
  db: Db;
  settings: SettingsRepository;
  accounts: MailAccounts;
  providers: ProviderRepository;
  tokens: TokenStore;
  sender: MailSender;
  log: Logger;
  modelName: string;
}

interface Notice {
  cause: string;
  kind: 'invalid' | 'sign_in_soon';
  subject: string;
  text: string;
  params: Record<string, string>;
  key: TokenKey;
}


export class TokenNotifier {
  readonly #o: TokenNotifierOptions;
  #running: Promise<void> | null = null;
  #again = false;
  #closed = false;

  constructor(options: TokenNotifierOptions) {
    this.#o = options;
  }

  /** Looks whether anything needs telling; concurrent calls share one look (and ask for one more after it). */
  check(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        try {
          await this.#look();
        } catch (err) {
          this.#o.log.error({ notify: 'token', err: err instanceof Error ? err.message : String(err) }, 'token notification failed');
        }
      } while (this.#again && !this.#closed);
    })().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
  }

  async #look(): Promise<void> {
    const care = tokenCareSettings(this.#o.settings);
    if (!care.notifyEmail && !care.syslog) return;
    for (const notice of this.#notices()) {
      if (care.syslog && !this.#sent(notice.cause, 'syslog')) {
        try {
          const line = formatSyslog({ severity: notice.kind === 'invalid' ? 'error' : 'warning', msgId: notice.kind === 'invalid' ? 'token-invalid' : 'token-sign-in-soon', params: notice.params, text: notice.text, at: this.#o.tokens.now() }, os.hostname());
          await sendSyslog(care.syslog, line);
          this.#mark(notice.cause, 'syslog');
        } catch (err) {
          this.#o.log.warn({ notify: 'syslog', err: err instanceof Error ? err.message : String(err) }, 'syslog notification not sent; trying again later');
        }
      }
      if (care.notifyEmail && !this.#sent(notice.cause, 'mail')) {
        const recipients = alertSettings(this.#o.settings).recipients;
        if (!recipients.length) continue;
        try {
          if (await this.#mail(notice, recipients, care.fallback)) this.#mark(notice.cause, 'mail');
        } catch (err) {
          this.#o.log.warn({ notify: 'mail', err: err instanceof Error ? err.message : String(err) }, 'notification mail not sent; trying again later');
        }
      }
    }
  }

  /** What needs telling now: each token a page uses that is Invalid or needs a new sign-in soon. */
  #notices(): Notice[] {
    const { tokens, accounts, providers } = this.#o;
    const now = tokens.now();
    const model = shortModel(this.#o.modelName);
    // Written in the device's default language, as its other mail is.
    const { t, dateTime: utc } = localeFor(deviceLanguage(this.#o.settings));
    const notices: Notice[] = [];
    for (const key of tokens.tokenKeys()) {
      const purposes = accounts.purposesUsing(key);
      const provider = providers.get(key.providerId);
      const view = tokens.status(key);
      const kind = attentionOf(view, now);
      if (!purposes.length || !provider || !kind) continue;
      const pages = purposes.map((purpose: MailPurpose) => t(mailForms[purpose].title)).join(t('common.listSeparator'));
      const account = normalizeAccount(key.account);
      const common = { model, pages, account, provider: provider.name };
      notices.push({
        cause: `${kind}:${key.providerId}:${account}:${view.life?.grantAt ?? 0}`,
        kind,
        key,
        params: { provider: provider.name, account, pages },
        ...(kind === 'invalid'
          ? { subject: t('notify.subject.invalid', common), text: t('notify.body.invalid', { ...common, reason: reasonOf(view) }) }
          : { subject: t('notify.subject.signInSoon', { ...common, time: utc(view.life!.signInBy!) }), text: t('notify.body.signInSoon', { ...common, time: utc(view.life!.signInBy!) }) }),
      });
    }
    return notices;
  }

  /** Through the SMTP page while its token (if any) works, else the fallback; false when neither can. */
  async #mail(notice: Notice, recipients: string[], fallback: FallbackServer | null): Promise<boolean> {
    const { accounts, settings, tokens, sender } = this.#o;
    const smtpKey = accounts.keyFor('smtp');
    const smtpWorks = settings.isSaved(mailForms.smtp) && (!smtpKey || tokens.status(smtpKey).state === 'obtained');
    if (smtpWorks) {
      sender.enqueue({ kind: 'alert', to: recipients, subject: notice.subject, text: notice.text });
      return true;
    }
    if (!fallback) {
      this.#o.log.warn({ notify: 'mail' }, 'notification mail not sent: the SMTP setting cannot send and no fallback server is set');
      return false;
    }
    const mailer = await loadNodemailer();
    const transport = mailer.createTransport({ ...smtpConnection({ ...fallback, timeoutMs: 15_000 }), auth: { user: fallback.user, pass: fallback.password }, logger: false });
    try {
      await transport.sendMail({ from: fallback.sender, to: recipients, subject: notice.subject, text: notice.text });
    } finally {
      transport.close();
    }
    this.#o.log.info({ notify: 'mail', via: 'fallback' }, 'notification mail sent through the fallback server');
    return true;
  }

  #sent(cause: string, channel: 'mail' | 'syslog'): boolean {
    return this.#o.db.prepare('SELECT 1 FROM token_notifications WHERE cause = ?').get(`${cause}|${channel}`) !== undefined;
  }

  #mark(cause: string, channel: 'mail' | 'syslog'): void {
    this.#o.db.prepare('INSERT OR IGNORE INTO token_notifications (cause, sent_at) VALUES (?, ?)').run(`${cause}|${channel}`, this.#o.tokens.now());
  }
}

/** The provider's or server's words with the stable code, for a technician reading mail or syslog. */
function reasonOf(view: CredentialView): string {
  return view.reason ? [view.reason.code, view.reason.detail].filter(Boolean).join(': ') : view.state;
}
