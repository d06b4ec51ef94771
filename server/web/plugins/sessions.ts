/**
 * The admin's session and what protects the forms: the session cookie (its row in the database, for
 * logged-in admins only), the CSRF secret (a signed cookie, so the login form stores nothing on the
 * device) and the limit on password guesses.
 */
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifySession from '@fastify/session';
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../services.js';
import { GuessLimiter } from '../guess-limiter.js';
import { StorageAwareSessionStore } from './session-fallback.js';
import { SqliteSessionStore } from './session-store.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The sessions table: the password page ends the other sessions through it. */
    sessionStore: SqliteSessionStore;
    guesses: GuessLimiter;
  }
}

export const SESSION_MAX_AGE_MS = 8 * 60 * 60 * 1000;
export const CSRF_COOKIE = '_csrf';

export async function setUpSessions(fastify: FastifyInstance, services: Services): Promise<void> {
  const store = new SqliteSessionStore(services.db, { maxAgeMs: SESSION_MAX_AGE_MS, log: fastify.log });
  fastify.addHook('onClose', async () => store.close());
  fastify.decorate('sessionStore', store);
  fastify.decorate('guesses', new GuessLimiter());

  await fastify.register(fastifyCookie, { secret: services.box.derive('csrf-cookie') });
  await fastify.register(fastifySession, {
    secret: services.box.derive('session-cookie'),
    cookieName: 'mfp_session',
    saveUninitialized: false,
    // While the storage is full, sessions live in memory (the admin can still log in and read the panel).
    store: new StorageAwareSessionStore(store, services.storage, SESSION_MAX_AGE_MS),
    // Lax, not Strict: the provider's redirect back to /oauth/callback is a cross-site navigation that
    // must carry the session. Forms are protected by their CSRF token either way.
    cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', path: '/', maxAge: SESSION_MAX_AGE_MS },
  });
  // The secret in a signed cookie (not in the session): showing the login form to a stranger costs
  // the device nothing. Lax for the same reason as the session cookie; login and logout renew it.
  await fastify.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: CSRF_COOKIE,
    cookieOpts: { signed: true, httpOnly: true, sameSite: 'lax', secure: 'auto', path: '/' },
    getToken: (request) => (request.body as Record<string, string> | undefined)?._csrf ?? (request.headers['x-csrf-token'] as string | undefined),
  });
}
