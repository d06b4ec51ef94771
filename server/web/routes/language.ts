import type { FastifyPluginAsync } from 'fastify';
import { isLanguage, languages, localeFor } from '../../i18n/index.js';
import { devicePreferencesForm } from '../../settings/device-preferences.js';
import { LANGUAGE_COOKIE } from '../plugins/language.js';
import { flash, renderPage } from '../render.js';

export const LANGUAGE_PATH = '/language';

/** Only this device's own pages: never an address from elsewhere (an open redirect). */
function localPath(value: unknown): string {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.includes('\\') ? value : '/';
}

/**
 * The header's language picker (also on the login page): the choice is kept in a cookie for this
 * browser session; a logged-in admin can also make it the device's default (for visitors whose browser
 * asks for no language the panel speaks, and for the device's own messages).
 */
export const languageRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.post<{ Body: { language?: unknown; deviceDefault?: unknown; returnTo?: unknown } }>(LANGUAGE_PATH, async (request, reply) => {
    const { language, deviceDefault, returnTo } = request.body ?? {};
    if (!isLanguage(language)) {
      const { t } = request.locale;
      return renderPage(request, reply, 'message', { title: t('language.title'), message: t('language.unknown') }, 400);
    }
    reply.setCookie(LANGUAGE_COOKIE, language, { path: '/', httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https' });
    // The next page speaks the new language, and so does its message.
    request.locale = localeFor(language);
    if (deviceDefault === '1' && request.session.user) {
      fastify.services.settings.save(devicePreferencesForm, { language }, {});
      flash(request, 'ok', 'language.defaultSaved', { language: languages.find((entry) => entry.code === language)!.name });
    }
    return reply.redirect(localPath(returnTo), 303);
  });
};
