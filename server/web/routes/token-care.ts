/**
 * Token Renewal and Notifications (System Control): the form spec of server/settings/token-care.ts,
 * saved only when every field is valid, errors next to the fields.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { translateErrors, validateForm, type FormContext } from '../../settings/form.js';
import { checkFallback, TOKEN_CARE_PAGE_PATH, tokenCareForm } from '../../settings/token-care.js';
import { fieldViews } from '../form-view.js';
import { flash, renderPage } from '../render.js';

/** The page's fields in two groups; the spec stays one list (one home for validation and saving). */
const RENEWAL_FIELDS = new Set(['microsoftDays', 'googleDays', 'customDays']);

export const tokenCareRoutes: FastifyPluginAsync = async (fastify) => {
  const { services } = fastify;
  const context = (): FormContext => ({ choices: {}, secretsSet: services.settings.secretsSet(tokenCareForm) });

  function show(request: FastifyRequest, reply: FastifyReply, values: Record<string, unknown>, errors: Record<string, string>, status = 200) {
    const { t } = request.locale;
    const fields = fieldViews(tokenCareForm, values, errors, context(), t);
    return renderPage(request, reply, 'token-care', {
      title: t(tokenCareForm.title),
      action: TOKEN_CARE_PAGE_PATH,
      groups: [
        { legend: t('tokenCare.renewal'), help: t('tokenCare.renewalHelp'), fields: fields.filter((field) => RENEWAL_FIELDS.has(field.name)) },
        { legend: t('tokenCare.notifications'), help: t('tokenCare.notificationsHelp'), fields: fields.filter((field) => !RENEWAL_FIELDS.has(field.name)) },
      ],
      formError: Object.keys(errors).length ? t('common.notSaved') : null,
    }, status);
  }

  fastify.get(TOKEN_CARE_PAGE_PATH, async (request, reply) => show(request, reply, services.settings.values(tokenCareForm), {}));

  fastify.post<{ Body: Record<string, string | undefined> }>(TOKEN_CARE_PAGE_PATH, async (request, reply) => {
    const body = request.body ?? {};
    // Without JavaScript, "Show the fields for these choices" re-draws the form; nothing is checked or saved.
    if (body._update) return show(request, reply, body, {});
    const result = checkFallback(validateForm(tokenCareForm, body, context()), context().secretsSet.has('fallbackPassword'));
    if (Object.keys(result.errors).length) return show(request, reply, body, translateErrors(result.errors, request.locale.t), 400);
    services.settings.save(tokenCareForm, result.values, result.secrets);
    flash(request, 'ok', 'common.saved');
    return reply.redirect(TOKEN_CARE_PAGE_PATH);
  });
};
