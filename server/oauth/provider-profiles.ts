/**
 * What each provider type means for OAuth: its grant, its scopes and its endpoints. Microsoft's and
 * Google's are fixed (REFERENCE.md §1); a custom provider takes them from its settings.
 */
import type { Grant, Provider } from '../settings/providers.js';
import { NO_GRANT_RULES, type GrantRules } from './token-state.js';

export type MailPurpose = 'smtp' | 'pop';
/** What a token is used for: sending, or receiving by POP3 or by IMAP (the E-mail Status page's protocol). */
export type ScopeUse = 'smtp' | 'pop' | 'imap';

export interface Endpoints {
  issuer: string;
  authorization_endpoint?: string;
  token_endpoint: string;
  device_authorization_endpoint?: string;
  revocation_endpoint?: string;
}

/** Where Microsoft's and Google's endpoints live; a lab on loopback replaces them in tests. */
export interface Authorities {
  microsoft: string;
  google: { authorization: string; token: string; revocation: string };
}

export const PRODUCTION_AUTHORITIES: Authorities = {
  microsoft: 'https://login.microsoftonline.com',
  google: {
    authorization: 'https://accounts.google.com/o/oauth2/v2/auth',
    token: 'https://oauth2.googleapis.com/token',
    revocation: 'https://oauth2.googleapis.com/revoke',
  },
};

export const MICROSOFT_SCOPES = {
  smtp: 'https://outlook.office.com/SMTP.Send',
  pop: 'https://outlook.office.com/POP.AccessAsUser.All',
  imap: 'https://outlook.office.com/IMAP.AccessAsUser.All',
  extra: 'offline_access',
} as const;
/** App-only (client credentials): the application permissions granted to the app, as one scope. */
export const MICROSOFT_APP_SCOPE = 'https://outlook.office365.com/.default';
export const GOOGLE_MAIL_SCOPE = 'https://mail.google.com/';

export function grantOf(provider: Provider): Grant {
  switch (provider.type) {
    case 'microsoft365':
      return 'device_code';
    case 'microsoft365-app':
      return 'client_credentials';
    case 'google':
      // Google's device flow refuses mail scopes: the admin's browser goes to Google and back.
      return 'authorization_code';
    case 'custom':
      return provider.grant;
  }
}

export function scopesOf(provider: Provider): Record<ScopeUse, string> & { extra: string } {
  switch (provider.type) {
    case 'microsoft365':
      return MICROSOFT_SCOPES;
    case 'microsoft365-app':
      return { smtp: MICROSOFT_APP_SCOPE, pop: MICROSOFT_APP_SCOPE, imap: MICROSOFT_APP_SCOPE, extra: '' };
    case 'google':
      // No offline_access at Google: access_type=offline asks for the refresh token instead.
      return { smtp: GOOGLE_MAIL_SCOPE, pop: GOOGLE_MAIL_SCOPE, imap: GOOGLE_MAIL_SCOPE, extra: '' };
    case 'custom':
      // A custom server's receiving scope serves POP3 and IMAP alike (one field on its page).
      return { smtp: provider.smtpScope, pop: provider.popScope, imap: provider.popScope, extra: provider.extraScope };
  }
}

/** The scope a token needs to serve the given purposes (only those), deduplicated, in a stable order. */
export function scopeFor(provider: Provider, purposes: Iterable<ScopeUse>): string {
  const scopes = scopesOf(provider);
  const parts: string[] = [];
  for (const purpose of purposes) parts.push(...scopes[purpose].split(' '));
  parts.push(...scopes.extra.split(' '));
  return [...new Set(parts.filter(Boolean))].join(' ');
}

/** Extra parameters of the authorization request (authorization code grant). */
export function authorizationParams(provider: Provider): Record<string, string> {
  // Without both, Google sends no refresh token (or only on the very first consent).
  return provider.type === 'google' ? { access_type: 'offline', prompt: 'consent' } : {};
}

/** The endpoints of a provider, or undefined when they come from OpenID discovery. */
export function fixedEndpoints(provider: Provider, authorities: Authorities): Endpoints | undefined {
  switch (provider.type) {
    case 'microsoft365':
    case 'microsoft365-app': {
      const base = `${authorities.microsoft.replace(/\/+$/, '')}/${encodeURIComponent(provider.tenant)}`;
      return {
        issuer: `${base}/v2.0`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        token_endpoint: `${base}/oauth2/v2.0/token`,
        device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
        // Microsoft's v2 endpoint offers no token revocation (RFC 7009).
      };
    }
    case 'google':
      return {
        issuer: 'https://accounts.google.com',
        authorization_endpoint: authorities.google.authorization,
        token_endpoint: authorities.google.token,
        revocation_endpoint: authorities.google.revocation,
      };
    case 'custom':
      if (provider.endpointMode === 'discovery') return undefined;
      return {
        issuer: new URL(provider.tokenEndpoint).origin,
        token_endpoint: provider.tokenEndpoint,
        ...(provider.authorizationEndpoint ? { authorization_endpoint: provider.authorizationEndpoint } : {}),
        ...(provider.deviceAuthorizationEndpoint ? { device_authorization_endpoint: provider.deviceAuthorizationEndpoint } : {}),
        ...(provider.revocationEndpoint ? { revocation_endpoint: provider.revocationEndpoint } : {}),
      };
  }
}

/** How many days unused a refresh token survives, per provider type (the admin may change them). */
export interface InactivityLimits {
  microsoftDays: number;
  googleDays: number;
  customDays: number;
}

/** REFERENCE.md §1: Microsoft 90 days; Google 6 months unused; a custom server is taken as strict as Microsoft. */
export const DEFAULT_INACTIVITY_LIMITS: InactivityLimits = { microsoftDays: 90, googleDays: 180, customDays: 90 };

const DAY_MS = 24 * 60 * 60_000;
/** Google apps in "Testing": refresh tokens end 7 days after the sign-in, used or not. */
export const GOOGLE_TESTING_LIFETIME_MS = 7 * DAY_MS;

/** What a provider's rules say about how long a grant lives without a person signing in again. */
export function grantRulesOf(provider: Provider, limits: InactivityLimits): GrantRules {
  switch (provider.type) {
    case 'microsoft365':
      return { inactivityLimitMs: limits.microsoftDays * DAY_MS, lifetimeMs: null };
    case 'microsoft365-app':
      // No refresh token: the device asks again whenever it needs a token.
      return NO_GRANT_RULES;
    case 'google':
      return { inactivityLimitMs: limits.googleDays * DAY_MS, lifetimeMs: provider.publishingStatus === 'testing' ? GOOGLE_TESTING_LIFETIME_MS : null };
    case 'custom':
      return grantOf(provider) === 'client_credentials' ? NO_GRANT_RULES : { inactivityLimitMs: limits.customDays * DAY_MS, lifetimeMs: null };
  }
}
