/**
 * The admin's session and what protects the forms: the session cookie (its row in the database, for
 * logged-in admins only), the CSRF secret (a signed cookie, so the login form stores nothing on the
 * device) and the limit on password guesses.
 */
import fastifyCookie, { Signer, type UnsignResult } from '@fastify/cookie';
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

/** A handful of admins, each with a session and a CSRF cookie: room for them all. */
const SIGNATURES_KEPT = 64;

/**
 * Every page checks the signatures of the session and CSRF cookies and signs the session cookie
 * again (its expiry rolls): an HMAC each time, for the same few values. This signer remembers its
 * last answers for the values it signed or found valid (never for a forgery, which gets the full check).
 */
export class RememberingSigner {
  readonly #signer: Signer;
  readonly #signed = new Map<string, string>();
  readonly #valid = new Map<string, string>();

  constructor(secret: string) {
    this.#signer = new Signer(secret);
  }

  sign = (value: string): string => {
    let signed = this.#signed.get(value);
    if (signed === undefined) remember(this.#signed, value, (signed = this.#signer.sign(value)));
    return signed;
  };

  unsign = (input: string): UnsignResult => {
    const known = this.#valid.get(input);
    if (known !== undefined) return { valid: true, renew: false, value: known };
    const result = this.#signer.unsign(input);
    if (result.valid && !result.renew) remember(this.#valid, input, result.value);
    return result;
  };
}

function remember(kept: Map<string, string>, key: string, value: string): void {
  kept.set(key, value);
  // Map order is insertion order: the oldest goes first.
  if (kept.size > SIGNATURES_KEPT) kept.delete(kept.keys().next().value!);
}

export async function setUpSessions(fastify: FastifyInstance, services: Services): Promise<void> {
  const store = new SqliteSessionStore(services.db, { maxAgeMs: SESSION_MAX_AGE_MS, log: fastify.log });
  fastify.addHook('onClose', async () => store.close());
  fastify.decorate('sessionStore', store);
  fastify.decorate('guesses', new GuessLimiter());

  await fastify.register(fastifyCookie, { secret: new RememberingSigner(services.box.derive('csrf-cookie')) });
  await fastify.register(fastifySession, {
    secret: new RememberingSigner(services.box.derive('session-cookie')),
    cookieName: 'mfp_session',
    saveUninitialized: false,
    // While the storage is full, sessions live in memory (the admin can still log in and read the panel).
    store: new StorageAwareSessionStore(store, services.storage, SESSION_MAX_AGE_MS),
    // Lax, not Strict: the provider's redirect back to /oauth/callback is a cross-site navigation that
    // must carry the session. Forms are protected by their CSRF token either way.
    // Saved only when it changed; the store moves the idle expiry on as pages read the session, so the
    // cookie is a browser-session cookie with no expiry of its own and is not sent again with every page.
    rolling: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto', path: '/' },
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
