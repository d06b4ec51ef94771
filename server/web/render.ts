import type { FastifyReply, FastifyRequest } from 'fastify';
import { DEFAULT_LANGUAGE, languages, localeFor, type MessageKey, type Params } from '../i18n/index.js';
import { currentMenuHref, menuTrail, menuTree } from './menu.js';

export type FlashKind = 'ok' | 'error' | 'info';
export interface Flash {
  kind: FlashKind;
  text: string;
}

declare module 'fastify' {
  interface Session {
    user?: string;
    flash?: Flash[];
  }
}

/** For the few places a template builds markup around a translated sentence. */
export function esc(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A message shown once on the next page (post/redirect/get), in the language of the page that caused it. */
export function flash(request: FastifyRequest, kind: FlashKind, key: MessageKey, params?: Params): void {
  request.session.flash = [...(request.session.flash ?? []), { kind, text: request.locale.t(key, params) }];
}

export function takeFlash(request: FastifyRequest): Flash[] {
  const messages = request.session?.flash ?? [];
  if (messages.length) request.session.flash = [];
  return messages;
}

/** Renders a page inside the device layout, with what every page needs (language, CSRF token, menu). */
export async function renderPage(
  request: FastifyRequest,
  reply: FastifyReply,
  template: string,
  data: Record<string, unknown>,
  status = 200,
): Promise<FastifyReply> {
  const { config } = request.server.services;
  const loggedIn = Boolean(request.session?.user);
  const path = request.url.split('?')[0]!;
  const menuHref = currentMenuHref(path);
  // An error raised before the language hook ran (a malformed request) is answered in the default language.
  const locale = request.locale ?? localeFor(DEFAULT_LANGUAGE);
  return reply.code(status).view(template, {
    t: locale.t,
    lang: locale.lang,
    locale,
    languages,
    esc,
    model: config.modelName,
    user: request.session?.user,
    csrfToken: request.session ? reply.generateCsrf() : '',
    flash: takeFlash(request),
    path,
    menuTree,
    currentMenuHref: menuHref,
    // The page's place in the menu (a sub-page, such as a confirmation, shows the page it belongs to).
    breadcrumb: loggedIn && menuHref && menuHref !== '/' ? menuTrail(menuHref)?.map((key) => locale.t(key)) : undefined,
    // Where the language picker comes back to: this page, or (for a page that answered a form) its menu page.
    returnTo: request.method === 'GET' ? request.url : (menuHref ?? path),
    loggedIn,
    ...data,
  });
}
