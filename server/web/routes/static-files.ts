/**
 * The panel's own static files (public/: a stylesheet, a script, an icon; a few kB), read once at
 * start and served from memory with an ETag and an hour of caching. Instead of @fastify/static,
 * which with its glob and send dependencies costs the device 1.5 MB of RSS for these three files.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { publicDir } from '../paths.js';

export const STATIC_PREFIX = '/static/';
export const FAVICON_PATH = '/favicon.ico';

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

function readPublicFiles(): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const name of fs.readdirSync(publicDir)) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const body = fs.readFileSync(path.join(publicDir, name));
    files.set(name, { body, type, etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return files;
}

export const staticFileRoutes: FastifyPluginAsync = async (fastify) => {
  const files = readPublicFiles();
  const send = (request: FastifyRequest, reply: FastifyReply, file: StaticFile, maxAgeSeconds: number) => {
    reply.header('cache-control', `public, max-age=${maxAgeSeconds}`).header('etag', file.etag);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return reply.type(file.type).send(file.body);
  };
  fastify.get<{ Params: { name: string } }>(`${STATIC_PREFIX}:name`, async (request, reply) => {
    const file = files.get(request.params.name);
    return file ? send(request, reply, file, 3600) : reply.callNotFound();
  });
  // Browsers ask for /favicon.ico whatever the page links to (a bookmark, a JSON answer): the same icon.
  fastify.get(FAVICON_PATH, async (request, reply) => send(request, reply, files.get('favicon.svg')!, 86_400));
};
