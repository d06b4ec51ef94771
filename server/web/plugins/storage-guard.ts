import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { StorageProblem } from '../../db/storage.js';
import { renderPage } from '../render.js';
import { storageNotices } from '../storage-view.js';

declare module 'fastify' {
  interface FastifyReply {
    /** @fastify/view merges these into every template's data (its types do not declare them). */
    locals: Record<string, unknown> | null;
  }
}

/** Logging in and out must work on a full or lost storage: the admin has to read what happened. */
const ALWAYS_ALLOWED = new Set(['/login', '/logout']);

/** The page a refused change gets: nothing was saved, and why. */
export function storageRefusal(request: FastifyRequest, reply: FastifyReply, problem: StorageProblem): Promise<FastifyReply> {
  const { t } = request.locale;
  const title = t('storage.refused.title');
  return renderPage(request, reply, 'message', { title, message: t(problem === 'full' ? 'storage.refused.full' : 'storage.refused.gone') }, problem === 'full' ? 507 : 503);
}

/**
 * Every change (a POST) is refused while the storage cannot keep it, before any handler runs; every
 * page of a logged-in admin carries the storage notices that concern it (all of them on the home page).
 */
export function guardStorage(fastify: FastifyInstance): void {
  const { services } = fastify;
  fastify.addHook('preHandler', async (request, reply) => {
    if (!request.session?.user) return;
    const path = request.url.split('?')[0]!;
    if (request.method === 'POST') {
      if (ALWAYS_ALLOWED.has(path)) return;
      const problem = services.storage.problem();
      if (problem) return storageRefusal(request, reply, problem);
      return;
    }
    if (path.startsWith('/api/') || path.startsWith('/static/')) return;
    reply.locals = { ...reply.locals, storageNotices: storageNotices(services, request.locale, path === '/' ? undefined : path) };
  });
}
