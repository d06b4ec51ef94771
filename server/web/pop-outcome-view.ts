import { hasMessage, type Locale, type MessageKey, type Translate } from '../i18n/index.js';
import type { PopCheckOutcome } from '../mail/pop-checker.js';
import type { Services } from '../services.js';
import { reasonText, tokenPanel } from './token-panel.js';

export interface OutcomeView {
  heading: string;
  startedAt: number;
  ok: boolean;
  when: string;
  summary: string[];
  reason: string | null;
  remedy: string | null;
  note: string | null;
  steps: { label: string; status: string; statusText: string; text: string }[];
  transcript: string;
  /** The messages this check fetched (newest first), for a page without the inbox list. */
  fetchedMail: { from: string; subject: string }[];
}

function message(t: Translate, key: string, params?: Record<string, string | number>): string | null {
  return hasMessage(key) ? t(key as MessageKey, params) : null;
}

/** An IMAP check says IMAP where POP's words would be wrong; the rest is common to both. */
function checkMessage(t: Translate, outcome: PopCheckOutcome, key: string): string | null {
  return (outcome.protocol === 'imap' ? message(t, `imapCheck.${key}`) : null) ?? message(t, `popCheck.${key}`);
}

/** What a page shows of an outcome: every sentence from the catalog, the transcript as lines. */
export function outcomeView(services: Services, outcome: PopCheckOutcome, heading: string, locale: Locale): OutcomeView {
  const { t } = locale;
  const summary: string[] = [];
  let reason: string | null = null;
  let remedy: string | null = null;
  let note: string | null = null;
  if (outcome.ok) {
    if (outcome.mode === 'test') summary.push(t('popCheck.result.testOk'));
    else if (outcome.fetched > 0) summary.push(t('popCheck.result.fetched', { count: outcome.fetched, total: outcome.onServer ?? 0 }));
    else summary.push(t('popCheck.result.none', { total: outcome.onServer ?? 0 }));
    if (outcome.remaining > 0) summary.push(t('popCheck.result.remaining', { count: outcome.remaining }));
    if (outcome.tokenRenewed) summary.push(t('popCheck.result.renewed'));
  } else if (outcome.problem) {
    const { code, detail } = outcome.problem;
    if (code === 'pop_auth' || code === 'imap_auth') {
      ({ reason, remedy } = reasonText({ code, detail }, t));
    } else {
      const text = checkMessage(t, outcome, `problem.${code}`) ?? t('popCheck.problem.internal');
      reason = detail ? `${text} (${detail})` : text;
      remedy = checkMessage(t, outcome, `problem.${code}.remedy`);
    }
    if (code === 'token_unavailable' || code === 'pop_auth' || code === 'imap_auth') {
      // The token's own reason and remedy, as the token block says them (e.g. a password reset).
      const panel = tokenPanel(services, 'pop', locale);
      summary.push(t('popCheck.tokenState', { state: panel.stateLabel }));
      if (code === 'token_unavailable' && panel.reason) {
        reason = `${t('popCheck.problem.token_unavailable')} ${panel.reason}`;
        remedy = panel.remedy ?? remedy;
      }
    }
    if (outcome.problem.transient) note = t('popCheck.transient');
  }
  const when = t('popCheck.at', {
    time: locale.dateTime(outcome.startedAt),
    trigger: t(`popCheck.trigger.${outcome.trigger}`),
    server: outcome.server ?? '—',
    mailbox: outcome.mailbox ?? '—',
    ms: outcome.durationMs,
  });
  const prefix = { client: 'C: ', server: 'S: ', info: '*  ' } as const;
  return {
    heading,
    startedAt: outcome.startedAt,
    ok: outcome.ok,
    when,
    summary,
    reason,
    remedy,
    note,
    steps: outcome.steps.map((s) => ({
      label: checkMessage(t, outcome, `step.${s.step}`) ?? s.step,
      status: s.status,
      statusText: t(`popCheck.stepStatus.${s.status}`),
      text: s.text ?? '',
    })),
    transcript: outcome.transcript.map((line) => prefix[line.direction] + line.text).join('\n'),
    fetchedMail: outcome.mode === 'check' && outcome.fetched > 0
      ? services.popChecker.listInbox(Math.min(outcome.fetched, 10)).filter((entry) => entry.receivedAt >= outcome.startedAt).map((entry) => ({ from: entry.from ?? '—', subject: entry.subject ?? '—' }))
      : [],
  };
}
