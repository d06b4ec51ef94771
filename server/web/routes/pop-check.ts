/**
 * The POP checker's pages: Check Now and Connection Test (buttons on the E-mail Status page), and the
 * E-mail Print Inbox page with the last check's outcome, its transcript and what was fetched.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { mailPagePaths, popForm } from '../../settings/pages.js';
import { outcomeView } from '../pop-outcome-view.js';
import { renderPage } from '../render.js';
import { redirectToResult, takeToolResult, toolResultView, type ToolResultPlace } from '../tool-results.js';

export const POP_CHECK_PATHS = {
  inbox: `${mailPagePaths.pop}/inbox`,
  checkNow: `${mailPagePaths.pop}/check`,
  test: `${mailPagePaths.pop}/test`,
  api: '/api/pop-check',
} as const;

export const popCheckRoutes: FastifyPluginAsync = async (fastify) => {
  const services = fastify.services;
  const checker = services.popChecker;

  async function showInbox(request: FastifyRequest, reply: FastifyReply) {
    const { locale } = request;
    const { t } = locale;
    const last = checker.lastCheck();
    const next = checker.nextCheckAt();
    const { popResult } = toolResultView(services, takeToolResult(request, POP_CHECK_PATHS.inbox), locale);
    const inbox = checker.listInbox(50).map((entry) => ({
      received: locale.dateTime(entry.receivedAt),
      from: entry.from ?? '—',
      subject: entry.subject ?? '—',
      size: entry.size < 1024 ? `${entry.size} B` : `${Math.ceil(entry.size / 1024)} KB`,
      kept: entry.rawKept ? t('common.yes') : t('common.no'),
      uid: entry.uid,
    }));
    return renderPage(request, reply, 'pop-check', {
      title: t('popCheck.title'),
      paths: POP_CHECK_PATHS,
      settingsPath: mailPagePaths.pop,
      configured: services.settings.isSaved(popForm),
      nextCheck: next === null ? null : t('popCheck.nextCheck', { time: locale.dateTime(next) }),
      popResult,
      // The last check is shown apart only when it is not the result just shown.
      last: last && !(popResult && popResult.startedAt === last.startedAt) ? outcomeView(services, last, t('popCheck.lastCheck'), locale) : null,
      inbox,
      inboxNote: t('popCheck.inboxNote', { count: 50, kb: Math.round(checker.inbox.rawCapBytes / 1024) }),
    });
  }

  fastify.get(POP_CHECK_PATHS.inbox, async (request, reply) => showInbox(request, reply));

  /**
   * Check Now and Connection Test are on the E-mail Status page and on the inbox page: the result is
   * shown on the page the button was pressed on (its form says which), after a redirect.
   */
  function resultPlace(body: { from?: string } | undefined): ToolResultPlace {
    return { path: body?.from === 'settings' ? mailPagePaths.pop : POP_CHECK_PATHS.inbox, anchor: 'pop-result' };
  }

  fastify.post<{ Body: { from?: string } }>(POP_CHECK_PATHS.checkNow, async (request, reply) => {
    const outcome = await checker.checkNow();
    return redirectToResult(request, reply, resultPlace(request.body), { kind: 'popCheck', outcome });
  });

  fastify.post<{ Body: { from?: string } }>(POP_CHECK_PATHS.test, async (request, reply) => {
    const outcome = await checker.testConnection();
    return redirectToResult(request, reply, resultPlace(request.body), { kind: 'popTest', outcome });
  });

  // The same facts as the page, for scripts and the simulator (transcripts are masked; no tokens).
  fastify.get(POP_CHECK_PATHS.api, async () => ({
    nextCheckAt: checker.nextCheckAt(),
    lastCheck: checker.lastCheck(),
    inbox: checker.listInbox(50),
  }));
};
