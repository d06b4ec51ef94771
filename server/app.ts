/**
 * The device's web panel as one Fastify plugin: external plugins first, then the app's services,
 * then routes (the shape of fastify/demo).
 */
import fastifyFormbody from '@fastify/formbody';
import fastifyView from '@fastify/view';
import type { FastifyError, FastifyInstance, FastifyPluginAsync } from 'fastify';
import crypto from 'node:crypto';
import { DEFAULT_LANGUAGE, localeFor } from './i18n/index.js';
import type { Services } from './services.js';
import { SECURITY_HEADERS, STRICT_TRANSPORT_SECURITY } from './web/csp.js';
import { FormShapeError, formShapeProblem, notAForm } from './web/form-shape.js';
import { setUpSessions } from './web/plugins/sessions.js';
import { guardStorage, storageRefusal } from './web/plugins/storage-guard.js';
import { viewsDir } from './web/paths.js';
import { renderPage } from './web/render.js';
import { templateEngine } from './web/template-engine.js';
import { addLanguageHook } from './web/plugins/language.js';
import { authRoutes } from './web/routes/auth.js';
import { homeRoutes } from './web/routes/home.js';
import { mailSettingsRoutes } from './web/routes/mail-settings.js';
import { providerRoutes } from './web/routes/providers.js';
import { eventLogRoutes } from './web/routes/event-log.js';
import { passwordRoutes } from './web/routes/password.js';
import { oauthCallbackRoutes } from './web/routes/oauth-callback.js';
import { tlsRoutes } from './web/routes/tls.js';
import { popCheckRoutes } from './web/routes/pop-check.js';
import { FAVICON_PATH, STATIC_PREFIX, staticFileRoutes } from './web/routes/static-files.js';
import { languageRoutes, LANGUAGE_PATH } from './web/routes/language.js';
import { alertRoutes } from './firmware/alert-routes.js';
import { menuBadges, tokenNotices } from './web/token-notices.js';
import { tokenCareRoutes } from './web/routes/token-care.js';

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
  interface FastifyReply {
    /** @fastify/view merges these into every template's data (it decorates replies with them). */
    locals: Record<string, unknown> | null;
  }
}

const PUBLIC_PREFIXES = ['/login', STATIC_PREFIX, FAVICON_PATH, LANGUAGE_PATH];

export interface AppOptions {
  services: Services;
}

export const app: FastifyPluginAsync<AppOptions> = async (fastify, { services }) => {
  fastify.decorate('services', services);

  // ---- the security headers (built once; first, so every answer has them), and HSTS, which depends on the certificate ----
  fastify.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (request.protocol === 'https' && !services.certificates.info().selfSigned) reply.header('Strict-Transport-Security', STRICT_TRANSPORT_SECURITY);
  });

  // ---- external plugins ----
  await fastify.register(fastifyFormbody, { bodyLimit: 64 * 1024 });
  // Forms only (see web/form-shape.ts): any other body, JSON included, is refused unread.
  fastify.removeContentTypeParser(['application/json', 'text/plain']);
  fastify.addContentTypeParser('*', (request, _payload, done) => done(notAForm(request.headers['content-type']), undefined));
  await setUpSessions(fastify, services);
  await fastify.register(staticFileRoutes);
  await fastify.register(fastifyView, {
    engine: { eta: templateEngine() },
    templates: viewsDir,
    root: viewsDir,
    viewExt: 'eta',
    // Compile each template once, not on every page (what @fastify/view does unless in production):
    // the templates ship with the firmware and do not change while the device runs.
    production: true,
  });

  // ---- each page's language (the login redirect and error pages speak it too) ----
  addLanguageHook(fastify);
  // ---- the admin must be logged in everywhere but the login page and static files ----
  fastify.addHook('onRequest', async (request, reply) => {
    if (PUBLIC_PREFIXES.some((prefix) => request.url.startsWith(prefix))) return;
    if (request.session.user) return;
    if (request.url.startsWith('/api/')) return reply.code(401).send({ error: 'login_required' });
    return reply.redirect('/login');
  });
  // The menu's badges: every page shows which setting has a token needing attention (a few SQLite reads).
  fastify.addHook('preHandler', async (request, reply) => {
    if (!request.session.user || request.url.startsWith('/api/') || request.url.startsWith(STATIC_PREFIX)) return;
    reply.locals = { ...reply.locals, menuBadges: menuBadges(tokenNotices(services, request.locale), request.locale.t) };
  });
  // Every state-changing request carries the form's CSRF token.
  fastify.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    await new Promise<void>((resolve, reject) => fastify.csrfProtection(request, reply, (err?: Error) => (err ? reject(err) : resolve())));
  });
  // A change the storage cannot keep is refused up front (full, database gone), never answered "saved".
  guardStorage(fastify);

  // Each field once, as text: a handler never sees an array or an object.
  fastify.addHook('preValidation', async (request) => {
    const problem = formShapeProblem(request.body);
    if (problem) throw problem;
  });

  /** The page a form was on: the posted path, or the nearest page above it (…/token/get → the SMTP page). */
  function formPageOf(url: string): string {
    const segments = url.split('?')[0]!.split('/');
    for (; segments.length > 1; segments.pop()) {
      const path = segments.join('/');
      if (fastify.findRoute({ method: 'GET', url: path })) return path;
    }
    return '/';
  }

  fastify.setNotFoundHandler((request, reply) => renderPage(request, reply, 'message', { title: request.locale.t('common.notFound'), message: request.locale.t('common.notFound') }, 404));
  fastify.setErrorHandler(async (error: FastifyError, request, reply) => {
    const { t } = request.locale ?? localeFor(DEFAULT_LANGUAGE);
    if (error instanceof FormShapeError) {
      const message = t(error.messageKey, error.params);
      return renderPage(request, reply, 'message', { title: t('form.unreadable'), message, back: formPageOf(request.url), backLabel: t('form.backToForm') }, 400);
    }
    if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
      return renderPage(request, reply, 'message', { title: t('common.csrf'), message: t('common.csrf') }, 403);
    }
    const storageProblem = services.storage.problemOf(error);
    if (storageProblem) return storageRefusal(request, reply, storageProblem);
    if (error.statusCode && error.statusCode < 500) {
      return renderPage(request, reply, 'message', { title: error.message, message: error.message }, error.statusCode);
    }
    const id = crypto.randomUUID().slice(0, 8);
    request.log.error({ err: error, errorId: id }, 'request failed');
    return renderPage(request, reply, 'message', { title: t('common.error', { id }), message: t('common.error', { id }) }, 500);
  });

  // ---- routes ----
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
  await fastify.register(languageRoutes);
  await fastify.register(tokenCareRoutes);
};

export type App = FastifyInstance;
