/**
 * The device authorization grant (RFC 8628): the printer shows a code, a person enters it at the
 * provider on another device, and the printer polls until the person has approved or declined.
 */
import type * as client from 'openid-client';
import { openid } from '../openid.js';
import { classifyOAuthError, type ClassifiedError } from '../errors.js';
import { delay, receivedTokens, type ReceivedTokens } from './tokens.js';

export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string | undefined;
  expiresAt: number;
  intervalSeconds: number;
}

export class DeviceFlowUnsupported extends Error {}

export async function startDeviceAuthorization(config: client.Configuration, scope: string, now: number): Promise<DeviceAuthorization> {
  if (!config.serverMetadata().device_authorization_endpoint) throw new DeviceFlowUnsupported('no device_authorization_endpoint');
  const response = await (await openid()).initiateDeviceAuthorization(config, { scope });
  return {
    deviceCode: response.device_code,
    userCode: response.user_code,
    verificationUri: response.verification_uri,
    verificationUriComplete: response.verification_uri_complete,
    expiresAt: now + response.expires_in * 1000,
    // RFC 8628 §3.2: 5 seconds when the provider does not say.
    intervalSeconds: response.interval ?? 5,
  };
}

export type PollOutcome = { ok: true; tokens: ReceivedTokens } | { ok: false; error: ClassifiedError };

export interface PollOptions {
  signal: AbortSignal;
  scope: string;
  /** The device's clock (tests and the simulator move it). */
  now: () => number;
  /** Told about each transient failure (provider down, network); polling goes on until the code expires. */
  onTransient?: (error: ClassifiedError) => void;
}

/**
 * Polls until the person decides or the code expires. openid-client honours `interval` and `slow_down`;
 * this loop adds what a device needs: surviving a provider outage mid-poll, and a clear end at expiry.
 */
export async function pollDeviceAuthorization(config: client.Configuration, authorization: DeviceAuthorization, options: PollOptions): Promise<PollOutcome> {
  let interval = authorization.intervalSeconds;
  for (;;) {
    const remainingMs = authorization.expiresAt - options.now();
    if (remainingMs <= 0) return { ok: false, error: { kind: 'expired', code: 'expired_token' } };
    const untilExpiry = AbortSignal.timeout(remainingMs);
    try {
      const response = await (await openid()).pollDeviceAuthorizationGrant(
        config,
        {
          device_code: authorization.deviceCode,
          user_code: authorization.userCode,
          verification_uri: authorization.verificationUri,
          expires_in: Math.ceil(remainingMs / 1000),
          interval,
        },
        undefined,
        { signal: AbortSignal.any([options.signal, untilExpiry]) },
      );
      return { ok: true, tokens: receivedTokens(response, options.scope, options.now()) };
    } catch (err) {
      if (options.signal.aborted) return { ok: false, error: { kind: 'aborted', code: 'aborted' } };
      if (untilExpiry.aborted) return { ok: false, error: { kind: 'expired', code: 'expired_token' } };
      const error = classifyOAuthError(err);
      if (error.kind !== 'transient') return { ok: false, error };
      options.onTransient?.(error);
      // Back off a little more after each outage, as slow_down would.
      interval = Math.min(interval + 5, 60);
      try {
        await delay(Math.min(interval * 1000, Math.max(0, authorization.expiresAt - options.now())), options.signal);
      } catch {
        return { ok: false, error: { kind: 'aborted', code: 'aborted' } };
      }
    }
  }
}
