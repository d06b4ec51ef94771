import type { OutboxJob } from '../mail/outbox.js';
import type { Services } from '../services.js';
import type { Locale, MessageKey } from '../i18n/index.js';
import { reasonText, tokenPanel } from './token-panel.js';
import { senderFixOffer } from './sender-fix.js';

/** One outbox row as the home page shows it (no secrets: subjects, addresses, server replies). */
export interface OutboxRow {
  id: number;
  kind: string;
  created: string;
  subject: string;
  recipients: string;
  status: OutboxJob['status'];
  statusLabel: string;
  why: string | null;
  remedy: string | null;
  /** 5.7.60: set the Sender Address to this account (a button). */
  senderFix: { account: string } | null;
  next: string | null;
}

export function outboxView(services: Services, locale: Locale): { rows: OutboxRow[]; summary: string; empty: boolean } {
  const { t } = locale;
  const jobs = services.sender.list();
  const counts = services.sender.outbox.counts();
  let smtpToken: ReturnType<typeof tokenPanel> | undefined;
  const rows = jobs.map((job): OutboxRow => {
    const total = job.delivered + job.recipients.length + job.rejected.length;
    const shown = [...job.message.to, ...job.message.cc].slice(0, 3).join(', ') || job.recipients.slice(0, 3).join(', ');
    const more = total > 3 ? ' …' : '';
    let why: string | null = null;
    let remedy: string | null = null;
    if (job.reason) ({ reason: why, remedy } = reasonText(job.reason, t));
    if (job.status === 'held' && job.hold === 'token') {
      smtpToken ??= tokenPanel(services, 'smtp', locale);
      why = [t('outbox.heldToken', { state: smtpToken.stateLabel }), smtpToken.reason ?? why].filter(Boolean).join(' ');
      remedy = smtpToken.remedy ?? remedy;
    } else if (job.status === 'held') {
      why = [t('outbox.heldSettings'), why].filter(Boolean).join(' ');
    }
    return {
      id: job.id,
      kind: t(`outbox.kind.${job.kind}` as MessageKey),
      created: locale.dateTime(job.createdAt),
      subject: job.message.subject,
      recipients: `${shown}${more}${job.delivered || job.rejected.length ? ` (${t('outbox.recipientsLeft', { left: job.recipients.length + job.rejected.length, total })})` : ''}`,
      status: job.status,
      statusLabel: t(`outbox.status.${job.status}`),
      why,
      remedy,
      senderFix: job.status === 'failed' ? senderFixOffer(services, job.reason?.code) : null,
      next: job.status === 'queued' && job.attempts > 0 ? `${t('outbox.attempts', { attempts: job.attempts })}, ${t('outbox.nextAttempt', { time: locale.dateTime(job.nextAttemptAt) })}` : null,
    };
  });
  return { rows, summary: t('outbox.summary', counts), empty: rows.length === 0 };
}
