import type { FastifyPluginAsync } from 'fastify';
import { hasMessage } from '../../i18n/index.js';
import { renderPage } from '../render.js';

export const eventLogRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get('/settings/system/token-events', async (request, reply) => {
    const { locale } = request;
    const { t } = locale;
    const events = fastify.services.events.list().map((event) => {
      const key = `event.${event.kind}`;
      return { ...event, label: hasMessage(key) ? t(key) : event.kind, time: locale.dateTime(event.at) };
    });
    return renderPage(request, reply, 'event-log', {
      title: t('events.title'),
      breadcrumb: [t('menu.systemSettings'), t('menu.systemControl'), t('menu.eventLog')],
      events,
    });
  });
};
