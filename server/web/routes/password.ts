import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ADMIN_USER, MIN_PASSWORD_LENGTH } from '../../security/admin-account.js';
import { flash, renderPage } from '../render.js';

interface PasswordBody {
  current?: string;
  next?: string;
  repeat?: string;
}

export const passwordRoutes: FastifyPluginAsync = async (fastify) => {
  const path = '/settings/security/password';
  function show(request: FastifyRequest, reply: FastifyReply, errors: Record<string, string>, formError: string | null = null, status = 200) {
    const { t } = request.locale;
    return renderPage(request, reply, 'password', { title: t('password.title'), errors, formError }, status);
  }

  fastify.get(path, async (request, reply) => show(request, reply, {}));

  fastify.post<{ Body: PasswordBody }>(path, async (request, reply) => {
    const { t } = request.locale;
    const { current = '', next = '', repeat = '' } = request.body ?? {};
    // The current password is the admin password: guessing it here counts as guessing it at login.
    const wait = fastify.guesses.waitSeconds(request.ip);
    if (wait) return show(request, reply, {}, t('password.tooMany', { seconds: wait }), 429);
    const errors: Record<string, string> = {};
    if (!(await fastify.services.admin.verify(ADMIN_USER, current))) {
      fastify.guesses.recordFailure(request.ip);
      errors.current = t('password.wrong');
    }
    if (next.length < MIN_PASSWORD_LENGTH) errors.next = t('password.weak');
    else if (next !== repeat) errors.repeat = t('password.mismatch');
    if (Object.keys(errors).length) return show(request, reply, errors, t('common.notSaved'), 400);
    await fastify.services.admin.change(next);
    // Whoever else was logged in (another browser, a stolen cookie) is logged out; this session stays.
    const ended = fastify.sessionStore.destroyOthers(request.session.sessionId);
    request.log.info({ endedSessions: ended }, 'admin password changed');
    flash(request, 'ok', 'password.changed');
    return reply.redirect(path);
  });
};
