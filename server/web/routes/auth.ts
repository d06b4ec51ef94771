import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_COOKIE } from '../plugins/sessions.js';
import { renderPage } from '../render.js';

interface LoginBody {
  user?: string;
  password?: string;
}

/** After logout the login page says so; a query flag, as an anonymous visitor has no session to keep a message in. */
const LOGGED_OUT = '/login?loggedOut';

export const authRoutes: FastifyPluginAsync = async (fastify) => {
  function showLogin(request: FastifyRequest, reply: FastifyReply, data: Record<string, unknown>, status = 200) {
    return renderPage(request, reply, 'login', data, status);
  }

  fastify.get<{ Querystring: { loggedOut?: string } }>('/login', async (request, reply) => {
    if (request.session.user) return reply.redirect('/');
    const loggedOut = request.query.loggedOut !== undefined;
    return showLogin(request, reply, loggedOut ? { flash: [{ kind: 'info', text: request.locale.t('login.loggedOut') }] } : {});
  });

  fastify.post<{ Body: LoginBody }>('/login', async (request, reply) => {
    const { t } = request.locale;
    const user = String(request.body?.user ?? '').trim();
    const password = String(request.body?.password ?? '');
    // Guessing the password from the network is slowed to a crawl; only wrong passwords count.
    const wait = fastify.guesses.waitSeconds(request.ip);
    if (wait) return showLogin(request, reply, { error: t('login.tooMany', { seconds: wait }), userValue: user }, 429);
    if (!(await fastify.services.admin.verify(user, password))) {
      fastify.guesses.recordFailure(request.ip);
      request.log.warn({ user: user.slice(0, 32) }, 'failed admin login');
      return showLogin(request, reply, { error: t('login.failed'), userValue: user }, 401);
    }
    // A new session id at login, so a session planted before it is worth nothing; a new CSRF secret too.
    await request.session.regenerate();
    request.session.user = user;
    reply.clearCookie(CSRF_COOKIE, { path: '/' });
    return reply.redirect('/');
  });

  fastify.post('/logout', async (request, reply) => {
    // Nothing is kept for the visitor the admin becomes: no session row, no CSRF secret.
    await request.session.destroy();
    reply.clearCookie(CSRF_COOKIE, { path: '/' });
    return reply.redirect(LOGGED_OUT);
  });
};
