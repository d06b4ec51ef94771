/**
 * The POP checker's pages: Check Now and Connection Test (buttons on the E-mail Status page), and the
 * E-mail Print Inbox page with the last check's outcome, its transcript and what was fetched.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { hasMessage, type MessageKey } from '../../i18n/index.js';
import type { PopCheckOutcome } from '../../mail/pop-checker.js';
import { mailPagePaths, popForm } from '../../settings/pages.js';
import type { Services } from '../../services.js';
import { renderPage, t } from '../render.js';
import { reasonText, tokenPanel } from '../token-panel.js';

export const POP_CHECK_PATHS = {
  inbox: `${mailPagePaths.pop}/inbox`,
  checkNow: `${mailPagePaths.pop}/check`,
  test: `${mailPagePaths.pop}/test`,
  api: '/api/pop-check',
} as const;

export interface OutcomeView {
  heading: string;
  ok: boolean;
  when: string;
  summary: string[];
  reason: string | null;
  remedy: string | null;
  note: string | null;
  steps: { label: string; status: string; statusText: string; text: string }[];
  transcript: string;
}

function time(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;
}

function message(key: string, params?: Record<string, string | number>): string | null {
  return hasMessage(key) ? t(key as MessageKey, params) : null;
}

/** What a page shows of an outcome: every sentence from the catalog, the transcript as lines. */
export function outcomeView(services: Services, outcome: PopCheckOutcome, heading: string): OutcomeView {
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
    if (code === 'pop_auth') {
      ({ reason, remedy } = reasonText({ code, detail }));
    } else {
      const text = message(`popCheck.problem.${code}`) ?? t('popCheck.problem.internal');
      reason = detail ? `${text} (${detail})` : text;
      remedy = message(`popCheck.problem.${code}.remedy`);
    }
    if (code === 'token_unavailable' || code === 'pop_auth') {
      // The token's own reason and remedy, as the token block says them (e.g. a password reset).
      const panel = tokenPanel(services, 'pop');
      summary.push(t('popCheck.tokenState', { state: panel.stateLabel }));
      if (code === 'token_unavailable' && panel.reason) {
        reason = `${t('popCheck.problem.token_unavailable')} ${panel.reason}`;
        remedy = panel.remedy ?? remedy;
      }
    }
    if (outcome.problem.transient) note = t('popCheck.transient');
  }
  const when = t('popCheck.at', {
    time: time(outcome.startedAt),
    trigger: t(`popCheck.trigger.${outcome.trigger}`),
    server: outcome.server ?? '—',
    mailbox: outcome.mailbox ?? '—',
    ms: outcome.durationMs,
  });
  const prefix = { client: 'C: ', server: 'S: ', info: '*  ' } as const;
  return {
    heading,
    ok: outcome.ok,
    when,
    summary,
    reason,
    remedy,
    note,
    steps: outcome.steps.map((s) => ({
      label: t(`popCheck.step.${s.step}`),
      status: s.status,
      statusText: t(`popCheck.stepStatus.${s.status}`),
      text: s.text ?? '',
    })),
    transcript: outcome.transcript.map((line) => prefix[line.direction] + line.text).join('\n'),
  };
}

export const popCheckRoutes: FastifyPluginAsync = async (fastify) => {
  const services = fastify.services;
  const checker = services.popChecker;

  async function showInbox(request: FastifyRequest, reply: FastifyReply, result: OutcomeView | null) {
    const last = checker.lastCheck();
    const next = checker.nextCheckAt();
    const inbox = checker.listInbox(50).map((entry) => ({
      received: time(entry.receivedAt),
      from: entry.from ?? '—',
      subject: entry.subject ?? '—',
      size: entry.size < 1024 ? `${entry.size} B` : `${Math.ceil(entry.size / 1024)} KB`,
      kept: entry.rawKept ? t('common.yes') : t('common.no'),
      uid: entry.uid,
    }));
    return renderPage(request, reply, 'pop-check', {
      title: t('popCheck.title'),
      breadcrumb: [t('menu.systemSettings'), t('menu.systemControl'), t('menu.emailAlertStatus'), t('menu.emailInbox')],
      paths: POP_CHECK_PATHS,
      settingsPath: mailPagePaths.pop,
      configured: services.settings.isSaved(popForm),
      nextCheck: next === null ? null : t('popCheck.nextCheck', { time: time(next) }),
      result,
      // The last check is shown apart only when it is not the result just shown.
      last: last && !(result && result.heading === t('popCheck.checkResult')) ? outcomeView(services, last, t('popCheck.lastCheck')) : null,
      inbox,
      inboxNote: t('popCheck.inboxNote', { count: 50, kb: Math.round(checker.inbox.rawCapBytes / 1024) }),
    });
  }

  fastify.get(POP_CHECK_PATHS.inbox, async (request, reply) => showInbox(request, reply, null));

  // The result is the answer to the POST itself: a transcript is shown once, for the press that made it.
  fastify.post(POP_CHECK_PATHS.checkNow, async (request, reply) => {
    const outcome = await checker.checkNow();
    return showInbox(request, reply, outcomeView(services, outcome, t('popCheck.checkResult')));
  });

  fastify.post(POP_CHECK_PATHS.test, async (request, reply) => {
    const outcome = await checker.testConnection();
    return showInbox(request, reply, outcomeView(services, outcome, t('popCheck.testResult')));
  });

  // The same facts as the page, for scripts and the simulator (transcripts are masked; no tokens).
  fastify.get(POP_CHECK_PATHS.api, async () => ({
    nextCheckAt: checker.nextCheckAt(),
    lastCheck: checker.lastCheck(),
    inbox: checker.listInbox(50),
  }));
};
