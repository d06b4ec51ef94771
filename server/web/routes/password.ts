import type { FastifyPluginAsync } from 'fastify';
import { ADMIN_USER, MIN_PASSWORD_LENGTH } from '../../security/admin-account.js';
import type { Translate } from '../../i18n/index.js';
import { flash, renderPage } from '../render.js';

interface PasswordBody {
  current?: string;
  next?: string;
  repeat?: string;
}

const breadcrumb = (t: Translate) => [t('menu.systemSettings'), t('menu.security'), t('menu.password')];

export const passwordRoutes: FastifyPluginAsync = async (fastify) => {
  const path = '/settings/security/password';
  fastify.get(path, async (request, reply) => {
    const { t } = request.locale;
    return renderPage(request, reply, 'password', { title: t('password.title'), breadcrumb: breadcrumb(t), errors: {} });
  });

  fastify.post<{ Body: PasswordBody }>(path, async (request, reply) => {
    const { t } = request.locale;
    const { current = '', next = '', repeat = '' } = request.body ?? {};
    const errors: Record<string, string> = {};
    if (!(await fastify.services.admin.verify(ADMIN_USER, current))) errors.current = t('password.wrong');
    if (next.length < MIN_PASSWORD_LENGTH) errors.next = t('password.weak');
    else if (next !== repeat) errors.repeat = t('password.mismatch');
    if (Object.keys(errors).length) {
      return renderPage(request, reply, 'password', { title: t('password.title'), breadcrumb: breadcrumb(t), errors, formError: t('common.notSaved') }, 400);
    }
    await fastify.services.admin.change(next);
    flash(request, 'ok', 'password.changed');
    return reply.redirect(path);
  });
};
