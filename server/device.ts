import Fastify, { type FastifyInstance } from 'fastify';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { app } from './app.js';
import type { DeviceConfig } from './config.js';
import { startFirmwareBridge, type FirmwareBridge } from './firmware/bridge.js';
import { CertificateStore } from './security/certificates.js';
import { createServices, type Services } from './services.js';
import { httpAllowed, seedHttpPolicy } from './settings/https.js';
import { requestForLog, requestLogger } from './web/request-log.js';

export interface RunningDevice {
  app: FastifyInstance;
  services: Services;
  /** Plain HTTP, e.g. http://127.0.0.1:8080 (redirects to HTTPS unless the admin allows HTTP). */
  url: string;
  /** e.g. https://127.0.0.1:8443 */
  httpsUrl: string;
  /** The firmware bridge's Unix socket (JSON over HTTP; see server/firmware/bridge.ts). */
  firmwareSocket: string;
  /** Set only at the first boot when no MFP_ADMIN_PASSWORD was given: show it once. */
  generatedAdminPassword: string | undefined;
  close(): Promise<void>;
}

/** Values that must never reach a log line, whatever an error object carries. */
const REDACT = ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]', '*.access_token', '*.refresh_token', '*.device_code', '*.password', '*.client_secret'];

function schemasNotUsed(): never {
  throw new Error('this device validates forms with their specs; route JSON schemas are not supported (they would load ajv)');
}

function origin(protocol: 'http' | 'https', host: string, port: number): string {
  return `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Boots the device: certificate, database, services, web panel over HTTPS (and HTTP), pending authorizations. */
export async function startDevice(config: DeviceConfig, options: { logStream?: { write(line: string): void } } = {}): Promise<RunningDevice> {
  const certificates = await CertificateStore.open(config.dataDir, config.host);
  const fastify = Fastify({
    logger: { level: config.logLevel, redact: { paths: REDACT, censor: '[hidden]' }, serializers: { req: requestForLog }, ...(options.logStream ? { stream: options.logStream } : {}) },
    childLoggerFactory: requestLogger,
    https: certificates.pair,
    // A printer's panel has a handful of users; keep request bodies and connections small.
    bodyLimit: 64 * 1024,
    trustProxy: false,
    // No route declares a JSON schema (forms are checked by their specs), so Fastify's ajv and
    // fast-json-stringify compilers (~90 modules, several MB) are never loaded. A schema added later
    // fails loudly at start instead of silently costing the memory budget.
    schemaController: { compilersFactory: { buildValidator: schemasNotUsed, buildSerializer: schemasNotUsed } },
  });
  const services = createServices(config, fastify.log, certificates);
  seedHttpPolicy(services.settings, config.initialAllowHttp);

  // Plain HTTP: the same panel when the admin allows it, otherwise a redirect to HTTPS.
  let httpsPort = config.httpsPort;
  const plain = http.createServer((request, response) => {
    if (httpAllowed(services.settings)) return fastify.routing(request, response);
    const host = (request.headers.host ?? config.host).replace(/:\d+$/, '');
    response.writeHead(301, { location: `${origin('https', host.replace(/^\[|\]$/g, ''), httpsPort)}${request.url ?? '/'}`, 'cache-control': 'no-store' });
    response.end();
  });
  let bridge: FirmwareBridge | undefined;
  fastify.addHook('onClose', async () => {
    // The firmware's requests under way finish (or are cut) before the services they use close.
    await bridge?.close();
    await new Promise<void>((resolve) => {
      plain.close(() => resolve());
      plain.closeAllConnections();
    });
    await services.close();
  });
  try {
    const generatedAdminPassword = await services.admin.ensurePassword(config.initialAdminPassword);
    await fastify.register(app, { services });
    await fastify.ready();
    services.tokens.resumePendingAuthorizations();
    await fastify.listen({ host: config.host, port: config.httpsPort });
    httpsPort = (fastify.server.address() as AddressInfo).port;
    await new Promise<void>((resolve, reject) => {
      plain.once('error', reject);
      plain.listen(config.port, config.host, () => resolve());
    });
    const port = (plain.address() as AddressInfo).port;
    bridge = await startFirmwareBridge({ services, socketPath: config.firmwareSocket, log: fastify.log.child({ component: 'firmware' }) });
    return {
      app: fastify,
      services,
      url: origin('http', config.host, port),
      httpsUrl: origin('https', config.host, httpsPort),
      firmwareSocket: bridge.socketPath,
      generatedAdminPassword,
      close: () => fastify.close(),
    };
  } catch (err) {
    await fastify.close();
    throw err;
  }
}
