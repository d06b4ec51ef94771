import path from 'node:path';

/** Everything the device reads from its environment, read once at start. */
export interface DeviceConfig {
  host: string;
  port: number;
  dataDir: string;
  /** Only used at first boot, when no admin password is stored yet. */
  initialAdminPassword: string | undefined;
  modelName: string;
  logLevel: string;
}

export class ConfigError extends Error {}

function parsePort(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${name} must be a port number from 0 to 65535, not "${raw}"`);
  }
  return port;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): DeviceConfig {
  return {
    host: env.HOST || '127.0.0.1',
    port: parsePort('PORT', env.PORT, 8080),
    dataDir: path.resolve(env.MFP_DATA_DIR || './data'),
    initialAdminPassword: env.MFP_ADMIN_PASSWORD || undefined,
    modelName: env.MFP_MODEL_NAME || 'MFP-C131 (emulated)',
    logLevel: env.LOG_LEVEL || 'info',
  };
}
