import type { FastifyPluginAsync } from 'fastify';
import { hasMessage, type MessageKey, type Translate } from '../../i18n/index.js';
import { renderPage } from '../render.js';

/**
 * An event's detail starts with the reason code the token store recorded ("smtp_5.7.139_tenant: 535 …");
 * the technician reads what it means and what to do, as the settings pages say it.
 */
function explained(detail: string | null, t: Translate): { cause: string; remedy: string } | null {
  const code = /^([\w.-]+)(?::|$)/.exec(detail ?? '')?.[1];
  const key = `reason.${code}`;
  if (!code || !hasMessage(key) || !hasMessage(`${key}.remedy`)) return null;
  return { cause: t(key), remedy: t(`${key}.remedy` as MessageKey) };
}

export const eventLogRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get('/settings/system/token-events', async (request, reply) => {
    const { locale } = request;
    const { t } = locale;
    const events = fastify.services.events.list().map((event) => {
      const key = `event.${event.kind}`;
      return { ...event, label: hasMessage(key) ? t(key) : event.kind, time: locale.dateTime(event.at), explained: explained(event.detail, t) };
    });
    return renderPage(request, reply, 'event-log', {
      title: t('events.title'),
      events,
    });
  });
};
