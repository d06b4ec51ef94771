import type { FastifyReply, FastifyRequest } from 'fastify';
import { translator, type MessageKey, type Params } from '../i18n/index.js';

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

export const t = translator('en');

/** For the few places a template builds markup around a translated sentence. */
export function esc(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A message shown once on the next page (post/redirect/get). */
export function flash(request: FastifyRequest, kind: FlashKind, key: MessageKey, params?: Params): void {
  request.session.flash = [...(request.session.flash ?? []), { kind, text: t(key, params) }];
}

export function takeFlash(request: FastifyRequest): Flash[] {
  const messages = request.session?.flash ?? [];
  if (messages.length) request.session.flash = [];
  return messages;
}

/** Renders a page inside the device layout, with what every page needs (translator, CSRF token, menu). */
export async function renderPage(
  request: FastifyRequest,
  reply: FastifyReply,
  template: string,
  data: Record<string, unknown>,
  status = 200,
): Promise<FastifyReply> {
  const { config } = request.server.services;
  const loggedIn = Boolean(request.session?.user);
  return reply.code(status).view(template, {
    t,
    esc,
    model: config.modelName,
    user: request.session?.user,
    csrfToken: request.session ? reply.generateCsrf() : '',
    flash: takeFlash(request),
    path: request.url.split('?')[0],
    loggedIn,
    ...data,
  });
}
