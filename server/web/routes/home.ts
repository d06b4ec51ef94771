import type { FastifyPluginAsync } from 'fastify';
import { MAIL_PURPOSES, mailForms, mailPagePaths } from '../../settings/pages.js';
import { outboxView } from '../outbox-view.js';
import { flash, renderPage } from '../render.js';
import { tokenPanel } from '../token-panel.js';
import { tokenNotices } from '../token-notices.js';
import { deviceStatusView } from '../../firmware/status-view.js';

export const homeRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get('/', async (request, reply) => {
    const { locale } = request;
    const { t } = locale;
    const tokens = MAIL_PURPOSES.map((purpose) => ({ title: t(mailForms[purpose].title), href: mailPagePaths[purpose], panel: tokenPanel(fastify.services, purpose, locale) })).filter(
      (row) => row.panel.configured,
    );
    return renderPage(request, reply, 'home', { title: t('home.title'), notices: tokenNotices(fastify.services, locale), tokens, deviceStatus: deviceStatusView(fastify.services, locale), outbox: outboxView(fastify.services, locale), firmware: process.env.npm_package_version ?? '0.1.0' });
  });

  // Recovery mode's notice, once the admin has dealt with it (the kept outbox files may then be swept).
  fastify.post('/storage/recovery/dismiss', async (request, reply) => {
    fastify.services.storage.dismissRecovery();
    flash(request, 'ok', 'storage.recovery.dismissed');
    return reply.redirect('/');
  });

  // The outbox's Retry and Delete (POST forms with the CSRF field, then back to the home page).
  fastify.post<{ Params: { id: string } }>('/outbox/:id/retry', async (request, reply) => {
    const done = /^\d+$/.test(request.params.id) && fastify.services.sender.retry(Number(request.params.id));
    flash(request, done ? 'ok' : 'error', done ? 'outbox.retried' : 'outbox.gone');
    return reply.redirect('/#outbox');
  });
  fastify.post<{ Params: { id: string } }>('/outbox/:id/delete', async (request, reply) => {
    const done = /^\d+$/.test(request.params.id) && fastify.services.sender.delete(Number(request.params.id));
    flash(request, done ? 'ok' : 'error', done ? 'outbox.deleted' : 'outbox.gone');
    return reply.redirect('/#outbox');
  });
};
