import type { FastifyPluginAsync } from 'fastify';
import { flash, renderPage } from '../render.js';

interface LoginBody {
  user?: string;
  password?: string;
}

export const authRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get('/login', async (request, reply) => {
    if (request.session.user) return reply.redirect('/');
    return renderPage(request, reply, 'login', {});
  });

  fastify.post<{ Body: LoginBody }>(
    '/login',
    // Guessing the password from the network is slowed to a crawl; the counter is per client address.
    { config: { rateLimit: { max: 5, timeWindow: '1 minute' } } },
    async (request, reply) => {
      const user = String(request.body?.user ?? '').trim();
      const password = String(request.body?.password ?? '');
      if (!(await fastify.services.admin.verify(user, password))) {
        request.log.warn({ user: user.slice(0, 32) }, 'failed admin login');
        return renderPage(request, reply, 'login', { error: request.locale.t('login.failed'), userValue: user }, 401);
      }
      // A new session id at login, so a session planted before it is worth nothing.
      await request.session.regenerate();
      request.session.user = user;
      return reply.redirect('/');
    },
  );

  fastify.post('/logout', async (request, reply) => {
    await request.session.regenerate();
    flash(request, 'info', 'login.loggedOut');
    return reply.redirect('/login');
  });
};
