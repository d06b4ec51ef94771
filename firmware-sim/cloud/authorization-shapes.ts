// How the lab authorization server mirrors each real provider: its paths, its scopes, its resources.
// Only data and pure functions here; authorization-server.ts applies them to oidc-provider.
//
// - generic: the lab's own shape (discovery at the root, `mail.smtp` / `mail.pop` on one resource).
// - microsoft: Microsoft identity platform v2, as the device builds it from a tenant:
//   `${authority}/${tenant}/oauth2/v2.0/{devicecode,token,authorize}`, issuer
//   `${authority}/${tenant}/v2.0`, discovery under it, no revocation endpoint (Microsoft offers none),
//   delegated scopes on https://outlook.office.com, app-only `.default` on https://outlook.office365.com.
// - google: `/o/oauth2/v2/auth`, `/token`, `/revoke` on one origin; scope https://mail.google.com/;
//   no device flow for mail (Google answers `invalid_scope` at `/device/code`); issuer
//   https://accounts.google.com (Google's own, see GOOGLE.issuer).
//
// The introspection endpoint exists at neither provider (Exchange and Gmail check tokens
// internally); it is the lab's way for its mail servers to check tokens, and it is at the same path,
// `/token/introspection`, in every shape so that a mail server's configuration does not depend on it.

export type AuthorizationServerShape = 'generic' | 'microsoft' | 'google';

export interface ShapePaths {
  authorization: string;
  token: string;
  /** undefined: the provider has no device flow (for mail) */
  deviceAuthorization?: string;
  /** the page a person opens to enter a user code */
  codeVerification?: string;
  /** undefined: the provider has no RFC 7009 endpoint */
  revocation?: string;
  introspection: string;
  discovery: string;
  jwks: string;
}

export interface ShapeResource {
  /** resource indicator, also the access token's audience */
  indicator: string;
  /** space-separated scopes of this resource */
  scope: string;
}

export interface ShapeSpec {
  shape: AuthorizationServerShape;
  issuer: (baseUrl: string) => string;
  paths: ShapePaths;
  /** what the device asks for to send (smtp) and to read (pop) */
  scopes: { smtp: string; pop: string };
  /** the delegated (user) resource, the default one */
  resource: ShapeResource;
  /** microsoft only: the app-only resource and what its `.default` stands for */
  appResource?: ShapeResource & { roles: string[] };
  /** the lab's default device code lifetime, as the provider's */
  deviceCodeTtl: number;
  /** oidc-provider user code mask */
  userCodeMask: string;
}

export const MICROSOFT = {
  delegatedResource: 'https://outlook.office.com',
  smtp: 'https://outlook.office.com/SMTP.Send',
  pop: 'https://outlook.office.com/POP.AccessAsUser.All',
  imap: 'https://outlook.office.com/IMAP.AccessAsUser.All',
  appResource: 'https://outlook.office365.com',
  appScope: 'https://outlook.office365.com/.default',
  appRoles: ['SMTP.SendAsApp', 'POP.AccessAsApp'],
  defaultTenant: 'contoso-tenant-id',
} as const;

export const GOOGLE = {
  /**
   * Google's issuer, used by the lab as is: oidc-provider puts the issuer in the authorization
   * response (`iss`, RFC 9207) and openid-client checks it against the issuer the device configured,
   * which for Google is this constant whatever the endpoints' host.
   */
  issuer: 'https://accounts.google.com',
  mailScope: 'https://mail.google.com/',
  /** where Google's device flow lives; in the lab it refuses every request like Google refuses mail scopes */
  deviceCodePath: '/device/code',
} as const;

export const GENERIC = {
  resource: 'urn:mfp-lab:mail',
  smtp: 'mail.smtp',
  pop: 'mail.pop',
} as const;

/** Tenant IDs (GUIDs), domains, `organizations`, `common`: one URL path segment of safe characters. */
export function validTenant(tenant: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9.-]{0,127}$/.test(tenant);
}

export function shapeSpec(shape: AuthorizationServerShape, tenant: string = MICROSOFT.defaultTenant): ShapeSpec {
  switch (shape) {
    case 'generic':
      return {
        shape,
        issuer: (baseUrl) => baseUrl,
        paths: {
          authorization: '/auth',
          token: '/token',
          deviceAuthorization: '/device/auth',
          codeVerification: '/device',
          revocation: '/token/revocation',
          introspection: '/token/introspection',
          discovery: '/.well-known/openid-configuration',
          jwks: '/jwks',
        },
        scopes: { smtp: GENERIC.smtp, pop: GENERIC.pop },
        resource: { indicator: GENERIC.resource, scope: `${GENERIC.smtp} ${GENERIC.pop}` },
        deviceCodeTtl: 600,
        userCodeMask: '****-****',
      };
    case 'microsoft': {
      if (!validTenant(tenant)) throw new Error(`invalid tenant ${JSON.stringify(tenant)}: use a tenant ID, a domain, "organizations" or "common"`);
      const t = `/${tenant}`;
      return {
        shape,
        issuer: (baseUrl) => `${baseUrl}${t}/v2.0`,
        paths: {
          authorization: `${t}/oauth2/v2.0/authorize`,
          token: `${t}/oauth2/v2.0/token`,
          deviceAuthorization: `${t}/oauth2/v2.0/devicecode`,
          // https://microsoft.com/devicelogin, not under the tenant
          codeVerification: '/devicelogin',
          introspection: '/token/introspection',
          discovery: `${t}/v2.0/.well-known/openid-configuration`,
          jwks: `${t}/discovery/v2.0/keys`,
        },
        scopes: { smtp: MICROSOFT.smtp, pop: MICROSOFT.pop },
        resource: { indicator: MICROSOFT.delegatedResource, scope: `${MICROSOFT.smtp} ${MICROSOFT.pop} ${MICROSOFT.imap}` },
        appResource: { indicator: MICROSOFT.appResource, scope: MICROSOFT.appScope, roles: [...MICROSOFT.appRoles] },
        deviceCodeTtl: 900,
        // Microsoft's user codes are 8–9 letters and digits without a dash (e.g. "FJ6Q8NTCZ").
        userCodeMask: '*********',
      };
    }
    case 'google':
      return {
        shape,
        issuer: () => GOOGLE.issuer,
        paths: {
          authorization: '/o/oauth2/v2/auth',
          token: '/token',
          revocation: '/revoke',
          introspection: '/token/introspection',
          discovery: '/.well-known/openid-configuration',
          jwks: '/oauth2/v3/certs',
        },
        scopes: { smtp: GOOGLE.mailScope, pop: GOOGLE.mailScope },
        resource: { indicator: GOOGLE.mailScope, scope: GOOGLE.mailScope },
        deviceCodeTtl: 600,
        userCodeMask: '****-****',
      };
  }
}
