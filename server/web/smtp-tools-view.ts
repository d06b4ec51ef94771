import type { ConnectionTestResult, SendTestResult } from '../mail/sender.js';
import type { Diagnosis } from '../mail/smtp-diagnosis.js';
import type { Services } from '../services.js';
import type { Locale } from '../i18n/index.js';
import { reasonText, tokenPanel } from './token-panel.js';
import { senderFixOffer } from './sender-fix.js';

/** What the SMTP page shows after Send Test E-mail or Connection Test (no secrets: masked transcript). */
export interface SmtpToolView {
  heading: string;
  ok: boolean;
  summary: string;
  reason: string | null;
  remedy: string | null;
  /** 5.7.60: set the Sender Address to this account (a button). */
  senderFix: { account: string } | null;
  steps: { label: string; status: 'ok' | 'failed' | 'skipped'; statusText: string; lines: string[] }[];
}

function explain(services: Services, diagnosis: Diagnosis | undefined, locale: Locale): { reason: string | null; remedy: string | null; senderFix: { account: string } | null } {
  if (!diagnosis) return { reason: null, remedy: null, senderFix: null };
  const own = { ...reasonText({ code: diagnosis.code, detail: diagnosis.detail }, locale.t), senderFix: senderFixOffer(services, diagnosis.code) };
  if (diagnosis.code !== 'token_unavailable') return own;
  // No usable token: say why, as the token block does (e.g. a password reset at the provider).
  const panel = tokenPanel(services, 'smtp', locale);
  return { reason: [own.reason, panel.reason].filter(Boolean).join(' '), remedy: panel.remedy ?? own.remedy, senderFix: null };
}

export function sendTestView(services: Services, result: SendTestResult, locale: Locale): SmtpToolView {
  const { t } = locale;
  return {
    heading: t('smtpTools.sendTest'),
    ok: result.ok,
    summary: result.ok ? t('smtpTools.testSent', { to: result.to, reply: result.reply ?? '' }) : t('smtpTools.testFailed', { to: result.to }),
    ...explain(services, result.diagnosis, locale),
    steps: [],
  };
}

export function connectionTestView(services: Services, result: ConnectionTestResult, locale: Locale): SmtpToolView {
  const { t } = locale;
  return {
    heading: t('smtpTools.connectionTest'),
    ok: result.ok,
    summary: result.ok ? t('smtpTools.connectionOk', { server: result.server }) : t('smtpTools.connectionFailed', { server: result.server }),
    ...explain(services, result.diagnosis, locale),
    steps: result.steps.map((step) => {
      const status = step.ok === true ? 'ok' : step.ok === false ? 'failed' : 'skipped';
      return { label: t(`connTest.step.${step.step}`), status, statusText: t(status === 'ok' ? 'connTest.ok' : status === 'failed' ? 'connTest.failed' : 'connTest.skipped'), lines: step.lines };
    }),
  };
}
