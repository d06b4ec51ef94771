import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { TokenActionError, type TokenKey } from '../../oauth/token-store.js';
import type { Provider } from '../../settings/providers.js';
import { translateErrors, validateForm, type FormContext } from '../../settings/form.js';
import { mailForms, mailPagePaths, MAIL_PURPOSES, PROVIDER_CHOICES, type MailPurpose } from '../../settings/pages.js';
import type { Services } from '../../services.js';
import { fieldViews } from '../form-view.js';
import { flash, renderPage } from '../render.js';
import type { Translate } from '../../i18n/index.js';
import { callbackUri } from './oauth-callback.js';
import { contentSecurityPolicy } from '../csp.js';
import { reasonText, tokenPanel } from '../token-panel.js';
import { MailJobError } from '../../mail/sender.js';
import { verificationQrCode } from '../qr-code.js';
import { redirectToResult, takeToolResult, toolResultView } from '../tool-results.js';
import { senderFixAccount } from '../sender-fix.js';
import { WRONG_SENDER_CODE } from '../../mail/smtp-diagnosis.js';

type Body = Record<string, string | undefined>;

function formContext(services: Services, purpose: MailPurpose): FormContext {
  return {
    choices: { [PROVIDER_CHOICES]: services.providers.list().map((provider) => ({ value: String(provider.id), label: { text: provider.name } })) },
    secretsSet: services.settings.secretsSet(mailForms[purpose]),
  };
}

function pageTitles(purposes: MailPurpose[], t: Translate): string {
  return purposes.map((purpose) => t(mailForms[purpose].title)).join(t('common.listSeparator'));
}

/** The SMTP page and the E-mail Status (POP) page: one route set, driven by each page's form spec. */
export const mailSettingsRoutes: FastifyPluginAsync = async (fastify) => {
  const { services } = fastify;

  async function showPage(request: FastifyRequest, reply: FastifyReply, purpose: MailPurpose, values: Record<string, unknown>, errors: Record<string, string>, status = 200, extra: Record<string, unknown> = {}) {
    const { locale } = request;
    const { t } = locale;
    const spec = mailForms[purpose];
    const context = formContext(services, purpose);
    const token = tokenPanel(services, purpose, locale);
    return renderPage(request, reply, 'mail-settings', {
      title: t(spec.title),
      purpose,
      action: mailPagePaths[purpose],
      fields: fieldViews(spec, values, errors, context, t),
      formError: Object.keys(errors).length ? t('common.notSaved') : null,
      noProviders: context.choices[PROVIDER_CHOICES]!.length === 0,
      token,
      qrCode: await verificationQrCode(token, t('token.qrLabel')),
      ...toolResultView(services, takeToolResult(request, mailPagePaths[purpose]), locale),
      ...extra,
    }, status);
  }

  for (const purpose of MAIL_PURPOSES) {
    const spec = mailForms[purpose];
    const path = mailPagePaths[purpose];

    fastify.get(path, async (request, reply) => showPage(request, reply, purpose, services.settings.values(spec), {}));

    fastify.post<{ Body: Body }>(path, async (request, reply) => {
      const body = request.body ?? {};
      // Without JavaScript, "Show the fields for these choices" re-draws the form; nothing is checked or saved.
      if (body._update) return showPage(request, reply, purpose, body, {});
      const result = validateForm(spec, body, formContext(services, purpose));
      if (Object.keys(result.errors).length) {
        // Show what the admin typed (never a secret) with the errors; nothing is saved.
        return showPage(request, reply, purpose, body, translateErrors(result.errors, request.locale.t), 400);
      }
      services.settings.save(spec, result.values, result.secrets);
      flash(request, 'ok', 'common.saved');
      return reply.redirect(path);
    });

    /**
     * Get Token and Delete work alike: they need the saved OAuth settings, ask for confirmation first
     * (as on the printer, warning when the other page shares the token), then act and come back.
     */
    function tokenAction(action: 'get' | 'delete', run: (request: FastifyRequest, reply: FastifyReply, key: TokenKey, provider: Provider) => Promise<FastifyReply | undefined>) {
      const confirm = action === 'get'
        ? { title: 'token.getConfirmTitle', message: 'token.getConfirm', shared: 'token.getConfirmShared', missing: 'token.saveFirst' } as const
        : { title: 'token.deleteConfirmTitle', message: 'token.deleteConfirm', shared: 'token.deleteConfirmShared', missing: 'token.nothingToDelete' } as const;
      fastify.post<{ Body: Body }>(`${path}/token/${action}`, async (request, reply) => {
        const { t } = request.locale;
        const key = services.accounts.keyFor(purpose);
        const provider = key && services.providers.get(key.providerId);
        if (!key || !provider) {
          flash(request, 'error', confirm.missing);
          return reply.redirect(path);
        }
        if (request.body?.confirm !== 'ok') {
          const others = services.accounts.purposesUsing(key).filter((other) => other !== purpose);
          const signInOrigin = action === 'get' ? await services.tokens.browserSignInOrigin(key) : null;
          if (signInOrigin) reply.header('content-security-policy', contentSecurityPolicy([signInOrigin]));
          return renderPage(request, reply, 'confirm', {
            title: t(confirm.title),
            message: t(confirm.message, { provider: provider.name, account: key.account }),
            warning: others.length ? t(confirm.shared, { pages: pageTitles(others, t) }) : null,
            action: `${path}/token/${action}`,
            cancel: path,
            danger: action === 'delete',
          });
        }
        try {
          await run(request, reply, key, provider);
          // A Reply is a thenable: awaiting one that run() returned yields undefined, so ask the reply.
          if (reply.sent) return reply;
        } catch (err) {
          if (!(err instanceof TokenActionError)) throw err;
          const { reason, remedy } = reasonText(err.reason ?? null, t);
          flash(request, 'error', err.messageKey, { reason: [reason, remedy].filter(Boolean).join(' ') });
        }
        return reply.redirect(path);
      });
    }

    tokenAction('get', async (request, reply, key, provider) => {
      const started = await services.tokens.startAuthorization(key, services.accounts.scopeFor(key, provider), {
        redirectUri: callbackUri(request),
        sessionId: request.session.sessionId,
        returnTo: path,
      });
      if (started.kind === 'redirect') return reply.redirect(started.url, 303);
      if (started.kind === 'awaiting') flash(request, 'info', 'token.requested');
      else if (started.status.state === 'obtained') flash(request, 'ok', 'token.obtainedNow');
      else flash(request, 'error', 'token.callbackFailed', { reason: reasonText(started.status.reason, request.locale.t).reason ?? '' });
      return undefined;
    });

    tokenAction('delete', async (request, _reply, key) => {
      const { revokeFailure } = await services.tokens.delete(key);
      flash(request, 'ok', 'token.deleted');
      if (revokeFailure) flash(request, 'info', 'token.revokeFailed', { reason: reasonText(revokeFailure, request.locale.t).reason ?? '' });
      return undefined;
    });
  }

  // The SMTP page's Send Test E-mail and Connection Test: they use the saved settings; the result (the
  // transcript masked by the sender) is shown next to the buttons after a redirect, so a reload sends nothing.
  const smtpPath = mailPagePaths.smtp;
  const smtpResult = { path: smtpPath, anchor: 'smtp-result' };
  fastify.post<{ Body: Body }>(`${smtpPath}/test-mail`, async (request, reply) => {
    const testTo = (request.body?.testTo ?? '').trim();
    let result;
    try {
      result = await services.sender.sendTest(testTo, request.locale);
    } catch (err) {
      if (!(err instanceof MailJobError)) throw err;
      return showPage(request, reply, 'smtp', services.settings.values(mailForms.smtp), {}, 400, { testTo, testToError: request.locale.t('validate.email') });
    }
    return redirectToResult(request, reply, smtpResult, { kind: 'sendTest', result, testTo });
  });
  fastify.post(`${smtpPath}/connection-test`, async (request, reply) => {
    const result = await services.sender.testConnection(request.locale.t);
    return redirectToResult(request, reply, smtpResult, { kind: 'connectionTest', result });
  });

  // 5.7.60's fix: send as the account the token belongs to; mail refused for the Sender Address alone
  // is queued again with it (the sender reads the Sender Address when it sends).
  fastify.post<{ Body: Body }>(`${smtpPath}/sender-from-account`, async (request, reply) => {
    const back = request.body?.back === 'home' ? '/#outbox' : smtpPath;
    const account = senderFixAccount(services);
    if (!account) {
      flash(request, 'error', 'senderFix.unavailable');
      return reply.redirect(back);
    }
    services.settings.save(mailForms.smtp, { ...services.settings.values(mailForms.smtp), senderAddress: account }, {});
    const retried = services.sender.list(500).filter((job) => job.status === 'failed' && job.reason?.code === WRONG_SENDER_CODE && services.sender.retry(job.id)).length;
    flash(request, 'ok', 'senderFix.done', { account, count: retried });
    return reply.redirect(back);
  });

  // For the page's small status script: the same facts the page shows, never a token.
  fastify.get<{ Params: { purpose: string } }>('/api/token-status/:purpose', async (request, reply) => {
    const purpose = request.params.purpose as MailPurpose;
    if (!MAIL_PURPOSES.includes(purpose)) return reply.code(404).send({ error: 'unknown_page' });
    return tokenPanel(services, purpose, request.locale);
  });
};
