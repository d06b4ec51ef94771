/**
 * The device's web panel as one Fastify plugin: external plugins first, then the app's services,
 * then routes (the shape of fastify/demo).
 */
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySession from '@fastify/session';
import fastifyView from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyError, FastifyInstance, FastifyPluginAsync } from 'fastify';
import crypto from 'node:crypto';
import type { Services } from './services.js';
import { CSP_DIRECTIVES } from './web/csp.js';
import { SqliteSessionStore } from './web/plugins/session-store.js';
import { viewsDir } from './web/paths.js';
import { renderPage, t } from './web/render.js';
import { authRoutes } from './web/routes/auth.js';
import { homeRoutes } from './web/routes/home.js';
import { mailSettingsRoutes } from './web/routes/mail-settings.js';
import { providerRoutes } from './web/routes/providers.js';
import { eventLogRoutes } from './web/routes/event-log.js';
import { passwordRoutes } from './web/routes/password.js';
import { oauthCallbackRoutes } from './web/routes/oauth-callback.js';
import { tlsRoutes } from './web/routes/tls.js';
import { popCheckRoutes } from './web/routes/pop-check.js';
import { STATIC_PREFIX, staticFileRoutes } from './web/routes/static-files.js';
import { alertRoutes } from './firmware/alert-routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

const SESSION_MAX_AGE_MS = 8 * 60 * 60 * 1000;
const PUBLIC_PREFIXES = ['/login', STATIC_PREFIX];

export interface AppOptions {
  services: Services;
}

export const app: FastifyPluginAsync<AppOptions> = async (fastify, { services }) => {
  fastify.decorate('services', services);

  // ---- external plugins ----
  await fastify.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { ...CSP_DIRECTIVES },
    },
    // The panel is served over plain HTTP until HTTPS is set up; HSTS there would lock the admin out.
    strictTransportSecurity: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
  await fastify.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  await fastify.register(fastifyCookie);
  await fastify.register(fastifySession, {
    secret: services.box.derive('session-cookie'),
    cookieName: 'mfp_session',
    saveUninitialized: false,
    store: new SqliteSessionStore(services.db, SESSION_MAX_AGE_MS),
    // Lax, not Strict: the provider's redirect back to /oauth/callback is a cross-site navigation that
    // must carry the session. Forms are protected by their CSRF token either way.
    cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', path: '/', maxAge: SESSION_MAX_AGE_MS },
  });
  await fastify.register(fastifyCsrf, { sessionPlugin: '@fastify/session', getToken: (request) => (request.body as Record<string, string> | undefined)?._csrf ?? (request.headers['x-csrf-token'] as string | undefined) });
  await fastify.register(fastifyRateLimit, { global: false });
  await fastify.register(fastifyView, {
    engine: { eta: new Eta({ views: viewsDir, cache: true, autoEscape: true }) },
    templates: viewsDir,
    root: viewsDir,
    viewExt: 'eta',
  });

  // ---- the admin must be logged in everywhere but the login page and static files ----
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('Cache-Control', 'no-store');
    if (PUBLIC_PREFIXES.some((prefix) => request.url.startsWith(prefix))) return;
    if (request.session.user) return;
    if (request.url.startsWith('/api/')) return reply.code(401).send({ error: 'login_required' });
    return reply.redirect('/login');
  });
  // Every state-changing request carries the form's CSRF token.
  fastify.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    await new Promise<void>((resolve, reject) => fastify.csrfProtection(request, reply, (err?: Error) => (err ? reject(err) : resolve())));
  });

  fastify.setNotFoundHandler((request, reply) => renderPage(request, reply, 'message', { title: t('common.notFound'), message: t('common.notFound') }, 404));
  fastify.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
      return renderPage(request, reply, 'message', { title: t('common.csrf'), message: t('common.csrf') }, 403);
    }
    if (error.statusCode === 429) {
      const seconds = Number(reply.getHeader('retry-after')) || 60;
      return renderPage(request, reply, 'login', { error: t('login.tooMany', { seconds }) }, 429);
    }
    if (error.statusCode && error.statusCode < 500) {
      return renderPage(request, reply, 'message', { title: error.message, message: error.message }, error.statusCode);
    }
    const id = crypto.randomUUID().slice(0, 8);
    request.log.error({ err: error, errorId: id }, 'request failed');
    return renderPage(request, reply, 'message', { title: t('common.error', { id }), message: t('common.error', { id }) }, 500);
  });

  // ---- routes ----
  await fastify.register(staticFileRoutes);
  await fastify.register(authRoutes);
  await fastify.register(homeRoutes);
  await fastify.register(mailSettingsRoutes);
  await fastify.register(providerRoutes);
  await fastify.register(eventLogRoutes);
  await fastify.register(passwordRoutes);
  await fastify.register(oauthCallbackRoutes);
  await fastify.register(tlsRoutes);
  await fastify.register(popCheckRoutes);
  await fastify.register(alertRoutes);
};

export type App = FastifyInstance;
