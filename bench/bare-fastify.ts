/**
 * The baseline of the page benchmark: a bare Fastify app, no plugins, serving fixed bytes at the
 * paths given (a JSON file named by argv[2]: { "/path": { "type": "...", "base64": "..." } }).
 * Started with the device's node flags; prints its port on stdout.
 */
import Fastify from 'fastify';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';

const pages = JSON.parse(fs.readFileSync(process.argv[2]!, 'utf8')) as Record<string, { type: string; base64: string }>;
const app = Fastify({ logger: false });
for (const [path, page] of Object.entries(pages)) {
  const body = Buffer.from(page.base64, 'base64');
  app.get(path, (_request, reply) => reply.type(page.type).send(body));
}
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${(app.server.address() as AddressInfo).port}\n`);
