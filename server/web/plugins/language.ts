import type { FastifyInstance } from 'fastify';
import { localeFor, pickLanguage, type Locale } from '../../i18n/index.js';
import { deviceLanguage } from '../../settings/device-preferences.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The language this request's page speaks, with its translator and date formats. */
    locale: Locale;
  }
}

/** The visitor's own choice from the header; a cookie, not the session, so an anonymous page stores nothing. */
export const LANGUAGE_COOKIE = 'mfp_lang';

/** Chooses each request's language before anything answers it (the login redirect and error pages speak it too). */
export function addLanguageHook(fastify: FastifyInstance): void {
  fastify.decorateRequest('locale', null as unknown as Locale);
  fastify.addHook('onRequest', async (request) => {
    request.locale = localeFor(pickLanguage(request.cookies[LANGUAGE_COOKIE], request.headers['accept-language'], () => deviceLanguage(fastify.services.settings)));
  });
}
