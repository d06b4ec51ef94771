import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { flash } from '../render.js';
import { reasonText } from '../token-panel.js';

export const CALLBACK_PATH = '/oauth/callback';

/**
 * The redirect URI the provider sends the admin's browser back to: this device, as the admin's browser
 * addresses it. The providers page shows the same value, to be registered with the provider.
 */
export function callbackUri(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}${CALLBACK_PATH}`;
}

/** Authorization code grant: the browser comes back from the provider with a code (or an error). */
export const oauthCallbackRoutes: FastifyPluginAsync = async (fastify) => {
  fastify.get(CALLBACK_PATH, async (request, reply) => {
    const url = new URL(request.url, callbackUri(request));
    const result = await fastify.services.tokens.completeBrowserAuthorization(url, request.session.sessionId);
    if (result.failure) {
      const { reason, remedy } = reasonText(result.failure, request.locale.t);
      flash(request, 'error', 'token.callbackFailed', { reason: [reason, remedy].filter(Boolean).join(' ') });
    } else {
      flash(request, 'ok', 'token.obtainedNow');
    }
    // Only our own pages: returnTo was stored server-side, never taken from the request.
    return reply.redirect(result.returnTo.startsWith('/') && !result.returnTo.startsWith('//') ? result.returnTo : '/');
  });
};
