/**
 * The E-mail Alert page (System Control › E-mail Alert/Status › E-mail Alert): a form spec like the
 * other settings pages, saved only when every field is valid, errors next to the fields, CSRF on the
 * form (the app's preHandler checks every POST).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { translateErrors } from '../settings/form.js';
import { fieldViews } from '../web/form-view.js';
import { flash, renderPage } from '../web/render.js';
import { ALERT_PAGE_PATH, alertForm, validateAlertForm } from './alerts.js';

const CONTEXT = { choices: {}, secretsSet: new Set<string>() };

export const alertRoutes: FastifyPluginAsync = async (fastify) => {
  const { services } = fastify;

  function show(request: FastifyRequest, reply: FastifyReply, values: Record<string, unknown>, errors: Record<string, string>, status = 200) {
    const { t } = request.locale;
    const fields = fieldViews(alertForm, values, errors, CONTEXT, t);
    const at = fields.findIndex((field) => field.name === 'recipients');
    return renderPage(request, reply, 'email-alert', {
      title: t(alertForm.title),
      action: ALERT_PAGE_PATH,
      before: fields.slice(0, at),
      recipients: fields[at],
      after: fields.slice(at + 1),
      formError: Object.keys(errors).length ? t('common.notSaved') : null,
    }, status);
  }

  fastify.get(ALERT_PAGE_PATH, async (request, reply) => {
    const values = services.settings.values(alertForm);
    // Saved comma-separated; shown one per line.
    return show(request, reply, { ...values, recipients: String(values.recipients ?? '').split(/,\s*/).filter(Boolean).join('\n') }, {});
  });

  fastify.post<{ Body: Record<string, string | undefined> }>(ALERT_PAGE_PATH, async (request, reply) => {
    const body = request.body ?? {};
    const result = validateAlertForm(body);
    if (Object.keys(result.errors).length) return show(request, reply, body, translateErrors(result.errors, request.locale.t), 400);
    services.settings.save(alertForm, result.values, {});
    flash(request, 'ok', 'common.saved');
    return reply.redirect(ALERT_PAGE_PATH);
  });
};
