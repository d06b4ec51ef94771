import type { FastifyPluginAsync } from 'fastify';
import { MAIL_PURPOSES, mailForms, mailPagePaths } from '../../settings/pages.js';
import { renderPage, t } from '../render.js';
import { tokenPanel } from '../token-panel.js';

export const homeRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get('/', async (request, reply) => {
    const tokens = MAIL_PURPOSES.map((purpose) => ({ title: t(mailForms[purpose].title), href: mailPagePaths[purpose], panel: tokenPanel(fastify.services, purpose) })).filter(
      (row) => row.panel.configured,
    );
    return renderPage(request, reply, 'home', { title: t('home.title'), tokens, firmware: process.env.npm_package_version ?? '0.1.0' });
  });
};
