import type { FastifyPluginAsync } from 'fastify';
import { hasMessage } from '../../i18n/index.js';
import { renderPage, t } from '../render.js';

export const eventLogRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get('/settings/system/token-events', async (request, reply) => {
    const events = fastify.services.events.list().map((event) => {
      const key = `event.${event.kind}`;
      return { ...event, label: hasMessage(key) ? t(key) : event.kind, time: new Date(event.at).toISOString().replace('T', ' ').slice(0, 19) };
    });
    return renderPage(request, reply, 'event-log', {
      title: t('events.title'),
      breadcrumb: [t('menu.systemSettings'), t('menu.systemControl'), t('menu.eventLog')],
      events,
    });
  });
};
