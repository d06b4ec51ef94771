import Fastify, { type FastifyInstance } from 'fastify';
import { app } from './app.js';
import type { DeviceConfig } from './config.js';
import { createServices, type Services } from './services.js';

export interface RunningDevice {
  app: FastifyInstance;
  services: Services;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  /** Set only at the first boot when no MFP_ADMIN_PASSWORD was given: show it once. */
  generatedAdminPassword: string | undefined;
  close(): Promise<void>;
}

/** Values that must never reach a log line, whatever an error object carries. */
const REDACT = ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]', '*.access_token', '*.refresh_token', '*.device_code', '*.password', '*.client_secret'];

/** Boots the device: database, services, web panel, pending authorizations; then listens. */
export async function startDevice(config: DeviceConfig, options: { logStream?: { write(line: string): void } } = {}): Promise<RunningDevice> {
  const fastify = Fastify({
    logger: { level: config.logLevel, redact: { paths: REDACT, censor: '[hidden]' }, ...(options.logStream ? { stream: options.logStream } : {}) },
    // A printer's panel has a handful of users; keep request bodies and connections small.
    bodyLimit: 64 * 1024,
    trustProxy: false,
  });
  const services = createServices(config, fastify.log);
  fastify.addHook('onClose', async () => services.close());
  try {
    const generatedAdminPassword = await services.admin.ensurePassword(config.initialAdminPassword);
    await fastify.register(app, { services });
    await fastify.ready();
    services.tokens.resumePendingAuthorizations();
    await fastify.listen({ host: config.host, port: config.port });
    const address = fastify.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    return { app: fastify, services, url: `http://${host}:${port}`, generatedAdminPassword, close: () => fastify.close() };
  } catch (err) {
    await fastify.close();
    throw err;
  }
}
