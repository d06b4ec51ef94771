import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { defaults, translateErrors, validateForm, type FormContext } from '../../settings/form.js';
import { mailForms } from '../../settings/pages.js';
import { providerForm } from '../../settings/providers.js';
import { fieldViews } from '../form-view.js';
import type { Translate } from '../../i18n/index.js';
import { flash, renderPage } from '../render.js';
import { callbackUri } from './oauth-callback.js';
import type { MessageKey } from '../../i18n/index.js';
import type { EndpointName } from '../../oauth/provider-clients.js';

const BASE = '/settings/network/oauth-servers';
/** The Test result names the endpoints a provider offers as the form's fields name them. */
const ENDPOINT_LABELS = {
  authorization_endpoint: 'providers.authorizationEndpoint',
  token_endpoint: 'providers.tokenEndpoint',
  device_authorization_endpoint: 'providers.deviceAuthorizationEndpoint',
  revocation_endpoint: 'providers.revocationEndpoint',
} as const satisfies Record<EndpointName, MessageKey>;
type Body = Record<string, string | undefined>;

export const providerRoutes: FastifyPluginAsync = async (fastify) => {
  const { services } = fastify;

  function usedBy(id: number, t: Translate): string[] {
    return services.accounts.purposesUsingProvider(id).map((purpose) => t(mailForms[purpose].title));
  }

  function context(id: number | undefined): FormContext {
    const provider = id === undefined ? undefined : services.providers.get(id);
    return { choices: {}, secretsSet: new Set(provider?.hasClientSecret ? ['clientSecret'] : []) };
  }

  function showForm(request: FastifyRequest, reply: FastifyReply, id: number | undefined, values: Record<string, unknown>, errors: Record<string, string>, status = 200) {
    const { t } = request.locale;
    return renderPage(request, reply, 'provider-form', {
      title: t(id === undefined ? 'providers.add' : 'providers.edit'),
      action: id === undefined ? BASE : `${BASE}/${id}`,
      fields: fieldViews(providerForm, values, errors, context(id), t),
      formError: Object.keys(errors).length ? t('common.notSaved') : null,
      // The exact redirect URI to register, for the types that send the browser to the provider.
      redirectUri: callbackUri(request),
      applies: {
        googleRedirect: values.type === 'google',
        customRedirect: values.type === 'custom' && values.grant === 'authorization_code',
        appOnly: values.type === 'microsoft365-app',
      },
      id,
      testResult: null,
    }, status);
  }

  function parseId(raw: string): number | undefined {
    const id = Number(raw);
    return Number.isInteger(id) && services.providers.get(id) ? id : undefined;
  }

  fastify.get(BASE, async (request, reply) => {
    const { t } = request.locale;
    const providers = services.providers.list().map((provider) => ({
      ...provider,
      typeLabel: t(`providerType.${provider.type}`),
      usedBy: usedBy(provider.id, t),
      where: provider.type === 'custom'
        ? (provider.endpointMode === 'manual' ? provider.tokenEndpoint : provider.issuerUrl)
        : provider.type === 'google' ? 'accounts.google.com' : t('providers.tenantIs', { tenant: provider.tenant }),
    }));
    return renderPage(request, reply, 'providers', { title: t('providers.title'), providers, base: BASE });
  });

  fastify.get(`${BASE}/new`, async (request, reply) => showForm(request, reply, undefined, defaults(providerForm), {}));

  fastify.get<{ Params: { id: string } }>(`${BASE}/:id`, async (request, reply) => {
    const id = parseId(request.params.id);
    if (id === undefined) return reply.callNotFound();
    return showForm(request, reply, id, { ...services.providers.get(id) }, {});
  });

  async function save(request: FastifyRequest<{ Body: Body }>, reply: FastifyReply, id: number | undefined) {
    const body = request.body ?? {};
    // Without JavaScript, "Show the fields for these choices" re-draws the form; nothing is checked or saved.
    if (body._update) return showForm(request, reply, id, body, {});
    const result = validateForm(providerForm, body, context(id));
    const sameName = result.values.name ? services.providers.findByName(String(result.values.name)) : undefined;
    if (sameName && sameName.id !== id) result.errors.name = { key: 'validate.nameTaken' };
    // Client credentials act inside one tenant: a multi-tenant alias cannot name it.
    if (result.values.type === 'microsoft365-app' && ['organizations', 'common'].includes(String(result.values.tenant))) {
      result.errors.tenant = { key: 'providers.tenantAppOnly' };
    }
    if (Object.keys(result.errors).length) return showForm(request, reply, id, body, translateErrors(result.errors, request.locale.t), 400);
    services.providers.save(id, result.values, result.secrets.clientSecret);
    flash(request, 'ok', 'common.saved');
    return reply.redirect(BASE);
  }

  fastify.post<{ Body: Body }>(BASE, async (request, reply) => save(request, reply, undefined));

  fastify.post<{ Params: { id: string }; Body: Body }>(`${BASE}/:id`, async (request, reply) => {
    const id = parseId(request.params.id);
    if (id === undefined) return reply.callNotFound();
    return save(request, reply, id);
  });

  fastify.post<{ Params: { id: string } }>(`${BASE}/:id/test`, async (request, reply) => {
    const id = parseId(request.params.id);
    if (id === undefined) return reply.callNotFound();
    const result = await services.clients.test(services.providers.get(id)!);
    if (result.ok) {
      const { t } = request.locale;
      const endpoints = result.endpoints.map((name) => t(ENDPOINT_LABELS[name])).join(t('common.listSeparator'));
      flash(request, 'ok', 'providers.testOk', { issuer: result.issuer, endpoints, status: result.tokenEndpointStatus });
    } else {
      flash(request, 'error', 'providers.testFailed', { detail: result.detail });
    }
    return reply.redirect(`${BASE}/${id}`);
  });

  fastify.post<{ Params: { id: string }; Body: Body }>(`${BASE}/:id/delete`, async (request, reply) => {
    const id = parseId(request.params.id);
    if (id === undefined) return reply.callNotFound();
    const { t } = request.locale;
    const provider = services.providers.get(id)!;
    const pages = usedBy(id, t);
    if (pages.length) {
      flash(request, 'error', 'providers.inUse', { pages: pages.join(t('common.listSeparator')) });
      return reply.redirect(BASE);
    }
    if (request.body?.confirm !== 'ok') {
      return renderPage(request, reply, 'confirm', {
        title: t('common.delete'),
        message: t('providers.deleteConfirm', { name: provider.name }),
        warning: null,
        action: `${BASE}/${id}/delete`,
        cancel: BASE,
        danger: true,
      });
    }
    await services.tokens.forgetProvider(id);
    services.providers.delete(id);
    flash(request, 'ok', 'providers.deleted');
    return reply.redirect(BASE);
  });
};
