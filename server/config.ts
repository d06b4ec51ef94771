import path from 'node:path';
import { PRODUCTION_AUTHORITIES, type Authorities } from './oauth/provider-profiles.js';
import { isLoopbackHost } from './settings/form.js';

/** Everything the device reads from its environment, read once at start. */
export interface DeviceConfig {
  host: string;
  /** Plain HTTP: redirects to HTTPS unless the admin allows HTTP. */
  port: number;
  httpsPort: number;
  /** First boot only: whether plain HTTP serves the panel (MFP_ALLOW_HTTP=1), until the admin changes it. */
  initialAllowHttp: boolean;
  dataDir: string;
  /** Only used at first boot, when no admin password is stored yet. */
  initialAdminPassword: string | undefined;
  modelName: string;
  logLevel: string;
  /** Microsoft's and Google's endpoints; replaced only by a lab on loopback. */
  authorities: Authorities;
  /** The firmware bridge's Unix socket (MFP_FIRMWARE_SOCKET, default <dataDir>/firmware.sock). */
  firmwareSocket: string;
  /** Labs only: the device's clock runs this far ahead (MFP_LAB_CLOCK_OFFSET_MS), to simulate months idle. */
  clockOffsetMs: number;
}

export class ConfigError extends Error {}

/** A port number from the environment; min 0 lets the kernel pick (tests), the simulator asks for 1. */
export function parsePort(name: string, raw: string | undefined, fallback: number, min = 0): number {
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!/^\d+$/.test(raw) || port < min || port > 65535) {
    throw new ConfigError(`${name}="${raw}" is not a port number (${min}-65535)`);
  }
  return port;
}

// pino's levels
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function logLevel(raw: string | undefined): string {
  if (!raw) return 'info';
  if (!LOG_LEVELS.includes(raw)) throw new ConfigError(`LOG_LEVEL="${raw}" is not a log level (${LOG_LEVELS.join(', ')})`);
  return raw;
}

/** A lab may stand in for Microsoft or Google, but only on this machine: never another host. */
function labBase(name: string, raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name}="${raw}" is not a URL`);
  }
  if (!isLoopbackHost(url.hostname)) throw new ConfigError(`${name}="${raw}" must point to a loopback address (a lab), not ${url.hostname}`);
  return url.href.replace(/\/+$/, '');
}

function readAuthorities(env: NodeJS.ProcessEnv): Authorities {
  const microsoft = labBase('MFP_LAB_MICROSOFT_AUTHORITY', env.MFP_LAB_MICROSOFT_AUTHORITY);
  const google = labBase('MFP_LAB_GOOGLE_BASE', env.MFP_LAB_GOOGLE_BASE);
  return {
    microsoft: microsoft ?? PRODUCTION_AUTHORITIES.microsoft,
    google: google ? { authorization: `${google}/o/oauth2/v2/auth`, token: `${google}/token`, revocation: `${google}/revoke` } : PRODUCTION_AUTHORITIES.google,
  };
}

function parseOffset(raw: string | undefined): number {
  if (!raw) return 0;
  const ms = Number(raw);
  if (!Number.isSafeInteger(ms)) throw new ConfigError(`MFP_LAB_CLOCK_OFFSET_MS must be a whole number of milliseconds, not "${raw}"`);
  return ms;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): DeviceConfig {
  const dataDir = path.resolve(env.MFP_DATA_DIR || './data');
  return {
    host: env.HOST || '127.0.0.1',
    port: parsePort('PORT', env.PORT, 8080),
    httpsPort: parsePort('HTTPS_PORT', env.HTTPS_PORT, 8443),
    initialAllowHttp: env.MFP_ALLOW_HTTP === '1' || env.MFP_ALLOW_HTTP === 'true',
    dataDir,
    initialAdminPassword: env.MFP_ADMIN_PASSWORD || undefined,
    modelName: env.MFP_MODEL_NAME || 'MFP-C131 (emulated)',
    logLevel: logLevel(env.LOG_LEVEL),
    authorities: readAuthorities(env),
    firmwareSocket: path.resolve(env.MFP_FIRMWARE_SOCKET || path.join(dataDir, 'firmware.sock')),
    clockOffsetMs: parseOffset(env.MFP_LAB_CLOCK_OFFSET_MS),
  };
}
