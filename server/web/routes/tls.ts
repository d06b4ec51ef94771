import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type https from 'node:https';
import { CertificateError } from '../../security/certificates.js';
import { translateErrors, validateForm } from '../../settings/form.js';
import { httpsForm } from '../../settings/https.js';
import { fieldViews } from '../form-view.js';
import { flash, renderPage } from '../render.js';

const PATH = '/settings/security/tls';

/** System Settings › Security Settings › SSL/TLS: the certificate, uploading one, and plain HTTP. */
export const tlsRoutes: FastifyPluginAsync = async (fastify) => {
  const { services } = fastify;

  /** New TLS connections use the new pair at once; open ones finish on the old. */
  function useCurrentCertificate(): void {
    (fastify.server as https.Server).setSecureContext(services.certificates.pair);
  }

  function show(request: FastifyRequest, reply: FastifyReply, values: Record<string, unknown>, errors: Record<string, string>, status = 200, uploadError: string | null = null) {
    const { t } = request.locale;
    return renderPage(request, reply, 'tls', {
      title: t('tls.title'),
      certificate: services.certificates.info(),
      fields: fieldViews(httpsForm, values, errors, { choices: {}, secretsSet: new Set() }, t),
      formError: Object.keys(errors).length ? t('common.notSaved') : null,
      uploadError,
    }, status);
  }

  fastify.get(PATH, async (request, reply) => show(request, reply, services.settings.values(httpsForm), {}));

  fastify.post<{ Body: Record<string, string> }>(PATH, async (request, reply) => {
    const result = validateForm(httpsForm, request.body ?? {}, { choices: {}, secretsSet: new Set() });
    if (Object.keys(result.errors).length) return show(request, reply, request.body ?? {}, translateErrors(result.errors, request.locale.t), 400);
    services.settings.save(httpsForm, result.values, {});
    flash(request, 'ok', 'common.saved');
    return reply.redirect(PATH);
  });

  fastify.post<{ Body: { cert?: string; key?: string } }>(`${PATH}/certificate`, { bodyLimit: 256 * 1024 }, async (request, reply) => {
    try {
      services.certificates.replace({ cert: String(request.body?.cert ?? ''), key: String(request.body?.key ?? '') });
    } catch (err) {
      if (!(err instanceof CertificateError)) throw err;
      const { t } = request.locale;
      return show(request, reply, services.settings.values(httpsForm), {}, 400, t('tls.refused', { reason: t(err.problem) }));
    }
    useCurrentCertificate();
    flash(request, 'ok', 'tls.installed');
    return reply.redirect(PATH);
  });

  fastify.post<{ Body: { confirm?: string } }>(`${PATH}/regenerate`, async (request, reply) => {
    if (request.body?.confirm !== 'ok') {
      const { t } = request.locale;
      return renderPage(request, reply, 'confirm', { title: t('tls.regenerate'), message: t('tls.regenerateConfirm'), warning: null, action: `${PATH}/regenerate`, cancel: PATH });
    }
    await services.certificates.regenerate(services.config.host);
    useCurrentCertificate();
    flash(request, 'ok', 'tls.regenerated');
    return reply.redirect(PATH);
  });
};
