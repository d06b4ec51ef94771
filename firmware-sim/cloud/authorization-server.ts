// The simulated cloud's OAuth 2.0 authorization server: a real oidc-provider 8 on 127.0.0.1.
//
// What the printer and the lab's mail servers see:
// - discovery at `${issuer}/.well-known/openid-configuration`;
// - device authorization grant (RFC 8628), refresh tokens (rotating), client credentials,
//   authorization code (for later work), token introspection and revocation;
// - access tokens are opaque and bound to one resource ("urn:mfp-lab:mail") whose scopes are
//   `mail.smtp` and `mail.pop`; a client that sends no `resource` parameter gets it by default;
// - introspection answers `email` (the account's address) so mail servers learn the user.
//
// Refresh tokens: oidc-provider issues one when the granted scope contains `offline_access` and the
// client may use the refresh_token grant (its default `issueRefreshToken`). `openid` is NOT needed:
// "mail.smtp mail.pop offline_access" gets a refresh token, and so does
// "openid mail.smtp mail.pop offline_access" (then an ID token comes too). For the device flow
// oidc-provider keeps `offline_access` as asked (the prompt=consent rule applies only to /auth).
// `useGrantedResource` returns true so that, with `openid` in the scope, access tokens are still
// minted for the mail resource and not for the userinfo endpoint.
//
// Client-credentials tokens have no account: their introspection says `email` = the mailbox of the
// client (the device client's mailbox is the first lab account's address), as an Exchange app
// granted send-as on one mailbox would be. The introspector client has no mailbox.
//
// Shapes (option `shape`, see authorization-shapes.ts): 'generic' is all of the above. 'microsoft'
// and 'google' serve the paths, scopes and quirks of the real providers so that the device's own
// Microsoft and Google code runs unchanged against the lab, with `baseUrl` as the authority:
// - microsoft: `/${tenant}/oauth2/v2.0/{devicecode,token,authorize}`, issuer `${baseUrl}/${tenant}/v2.0`
//   (discovery under it, none at the root), verification page `/devicelogin`, no revocation endpoint.
//   The oidc-provider routes are these full paths (no mount prefix: the same URLs, and introspection
//   can stay at `/token/introspection`). The device client is public (token_endpoint_auth_method
//   'none') AND accepts its secret when one is sent (post or basic): a front step checks the secret
//   and strips it before oidc-provider sees the request; a wrong one is `invalid_client`. The device
//   response has `interval` and `message` and no `verification_uri_complete`; a denied sign-in polls
//   as `authorization_declined`. An authorization request with offline_access and no `prompt` gets
//   prompt=consent added, so that, as at Microsoft, offline_access alone gives a refresh token.
//   App-only: client `appOnly` (client_secret_post, client_credentials only) must ask exactly
//   `https://outlook.office365.com/.default` (else invalid_scope, as AADSTS1002012); its tokens
//   introspect with that scope, `email` = `appOnlyMailbox` and `roles` = SMTP.SendAsApp,
//   POP.AccessAsApp (the application permissions behind `.default`).
// - google: `/o/oauth2/v2/auth`, `/token`, `/revoke`, issuer https://accounts.google.com (Google's:
//   oidc-provider sends it as `iss` in the redirect and openid-client compares it with the issuer the
//   device pins); POST `/device/code` answers `invalid_scope`
//   (Google's device flow refuses mail scopes) and the device-code grant is unknown. Authorization
//   code with PKCE S256 (required in every shape). `access_type=offline` is turned into the
//   `offline_access` scope before oidc-provider sees the request, whose OpenID rule then keeps it
//   only with `prompt=consent`: a refresh token comes only with both (Google also gives one on the
//   very first consent without prompt=consent; the lab is stricter). An explicit `offline_access`
//   scope is refused like Google (`invalid_scope` page). Refresh tokens do not rotate and a refresh
//   answer carries none (Google's way: keep the one you have).
// - approveAuthorization()/denyAuthorization() play the person in the browser for the
//   authorization-code grant (any shape) and hand back the redirect to the device without following it.

import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
// @ts-expect-error -- oidc-provider 8 ships no type declarations; the few parts used are typed below.
import ProviderModule, { errors as oidcErrors } from 'oidc-provider';
// @ts-expect-error -- same package, deep import of its own in-memory adapter (see LabMemoryAdapter).
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import { shapeSpec, GOOGLE, MICROSOFT } from './authorization-shapes.js';
import { FileStore } from './authorization-store.js';
import type { AuthorizationServerShape, ShapeResource } from './authorization-shapes.js';

export type { AuthorizationServerShape } from './authorization-shapes.js';

export interface LabAccount { login: string; password: string; email: string }
export interface LabClient { clientId: string; clientSecret: string }
export interface AuthorizationServerOptions {
  port?: number;
  deviceInterval?: number;
  deviceCodeTtl?: number;
  accessTokenTtl?: number;
  accounts?: LabAccount[];
  redirectUris?: string[];
  /** Fixed client secrets, so a lab restarted with the same data keeps matching what the device stored. */
  deviceClientSecret?: string;
  introspectorSecret?: string;
  /** which real provider to mirror; default 'generic' (the lab's own shape) */
  shape?: AuthorizationServerShape;
  /** microsoft: the tenant in the paths; default 'contoso-tenant-id' */
  tenant?: string;
  /** microsoft: the mailbox app-only tokens act for (introspection `email`); default the first account's */
  appOnlyMailbox?: string;
  /** microsoft: fixed secret of the app-only client (like deviceClientSecret) */
  appOnlyClientSecret?: string;
  /**
   * A JSON file that keeps grants, tokens, device codes and sessions across restarts (written
   * atomically, mode 0600, shortly after each change and on close; expired entries are dropped at
   * load). Default: none, everything in memory and lost on close. Tokens stay valid across a restart
   * when the lab comes back with the same port (the issuer), shape and client secrets.
   */
  stateFile?: string;
  /** A refresh token unused this many days (lab clock) is refused; default: microsoft and generic 90, google 180. */
  refreshInactivityDays?: number;
  /** google: the app is in "Testing": refresh tokens end 7 days after the sign-in, and answers say so (`refresh_token_expires_in`). */
  googleTesting?: boolean;
}

/** Absolute URLs, as the device must call them. */
export interface AuthorizationServerEndpoints {
  authorization: string;
  token: string;
  /** absent: no device flow (google) */
  deviceAuthorization?: string;
  /** absent: no revocation endpoint (microsoft) */
  revocation?: string;
  /** the lab's own (neither provider has one): the mail servers check tokens here */
  introspection: string;
}

/**
 * The browser was sent back to the client with something other than what was asked for (an error,
 * or a code when denying). `location` is that redirect, not requested.
 */
export class AuthorizationRedirectError extends Error {
  constructor(message: string, readonly location: string, readonly error?: string) {
    super(message);
    this.name = 'AuthorizationRedirectError';
  }
}

export type AuthorizationServerFault = null | {
  /** expired_token: device-code polls are answered `expired_token` (the code ran out), like slow_down */
  kind: 'slow_down' | 'server_error' | 'timeout' | 'malformed_json' | 'expired_token';
  endpoint: 'token' | 'device' | 'any';
  /** how many matching requests get the fault; unset = until setFault(null) */
  count?: number;
};

/** The provider's own rules and policies on refresh tokens (issue 11), as the lab plays them. */
export type GrantPolicy =
  /** Conditional Access sign-in frequency: refresh tokens issued before now are refused (AADSTS70043). */
  | { kind: 'sign_in_frequency' }
  /** Continuous access evaluation: a refresh without `claims` gets a 401 insufficient_claims challenge; strict: with them too it fails (AADSTS50076). */
  | { kind: 'insufficient_claims'; strict?: boolean }
  /** The Date header of every answer is this far off the lab's clock (as a device with a wrong clock sees it). */
  | { kind: 'clock_skew'; ms: number };

export interface IntrospectionResult {
  active: boolean;
  email?: string;
  scope?: string;
  client_id?: string;
  exp?: number;
  sub?: string;
  token_type?: string;
  /** microsoft app-only tokens: the application permissions behind `.default` */
  roles?: string[];
}

export interface AuthorizationServer {
  shape: AuthorizationServerShape;
  /** http://127.0.0.1:PORT — the authority the device uses in place of the provider's */
  baseUrl: string;
  /** generic: baseUrl; microsoft: `${baseUrl}/${tenant}/v2.0`; google: https://accounts.google.com (Google's, as the device pins it) */
  issuer: string;
  endpoints: AuthorizationServerEndpoints;
  /** microsoft only */
  tenant?: string;
  /** the printer's client: confidential in generic and google; public in microsoft (its secret is accepted too) */
  device: LabClient;
  introspector: LabClient;
  /** microsoft only: the app-only (client credentials) client */
  appOnly?: LabClient;
  accounts: LabAccount[];
  /** what the device asks for to send and to read: mail.smtp/mail.pop, Microsoft's or Google's */
  scopes: { smtp: string; pop: string };
  /** the resource indicator the (delegated) mail scopes belong to (the default resource) */
  resource: string;
  approveDeviceCode(userCode: string, account?: LabAccount): Promise<void>;
  denyDeviceCode(userCode: string, account?: LabAccount): Promise<void>;
  /**
   * Follow an authorization URL as a person in a browser (cookies, no JS): sign in, approve, and
   * return the redirect back to the client (with `code` and `state`) without requesting it.
   * Throws AuthorizationRedirectError when the server sends the browser back with an error.
   */
  approveAuthorization(authorizationUrl: string, account?: LabAccount): Promise<string>;
  /** Same, but deny on the consent page: returns the redirect with `error=access_denied`. */
  denyAuthorization(authorizationUrl: string, account?: LabAccount): Promise<string>;
  /** Register one more redirect URI for the device client (e.g. once the device's port is known). */
  addRedirectUri(uri: string): Promise<void>;
  resetPassword(email: string): Promise<number>;
  introspect(token: string): Promise<IntrospectionResult>;
  /** setFault(null) also ends the grant policies below. */
  setFault(fault: AuthorizationServerFault): void;
  setGrantPolicy(policy: GrantPolicy): void;
  /** The lab's clock runs this far ahead of real time (a scenario moves it with the device's). */
  setClockOffset(ms: number): void;
  /** Told of each user code the device authorization endpoint hands out (e.g. to approve or deny it); returns an unsubscribe. */
  onDeviceCode(listener: (code: { userCode: string; clientId: string }) => void): () => void;
  close(): Promise<void>;
}

// --- the minimum of oidc-provider's surface that is used here -----------------------------------

interface OidcGrant {
  accountId: string;
  clientId: string;
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
  destroy(): Promise<void>;
}
interface OidcClient {
  clientId: string;
  clientName?: string;
  // mutable arrays of the registered metadata (addRedirectUri appends to them)
  redirectUris: string[];
  grantTypes: string[];
  responseTypes: string[];
}
interface InteractionDetails {
  uid: string;
  prompt: {
    name: string;
    reasons: string[];
    details: {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
  };
  params: Record<string, unknown> & { client_id?: string; scope?: string };
  session?: { accountId?: string };
  grantId?: string;
}
interface OidcProvider {
  issuer: string;
  RefreshToken: { find(value: string): Promise<{ iat?: number } | undefined> };
  Grant: { new (init: { accountId: string; clientId: string }): OidcGrant; find(id: string): Promise<OidcGrant | undefined> };
  Client: { find(id: string): Promise<OidcClient | undefined> };
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  use(mw: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
  interactionResult(req: IncomingMessage, res: ServerResponse, result: unknown, opts?: { mergeWithLastSubmission?: boolean }): Promise<string>;
  on(event: string, fn: (...args: unknown[]) => void): void;
}
interface KoaContext {
  path: string;
  method: string;
  status: number;
  body: unknown;
  type: string;
  oidc?: { client?: { clientId: string; clientName?: string }; params?: Record<string, unknown> };
}
type OidcErrorCtor = new (description?: string, detail?: string) => Error;
const OidcErrors = oidcErrors as Record<'InvalidTarget' | 'InvalidScope' | 'InvalidRequest', OidcErrorCtor>;
type ProviderCtor = new (issuer: string, config: Record<string, unknown>) => OidcProvider;
const Provider = ProviderModule as ProviderCtor;

// oidc-provider's own in-memory adapter; subclassed only so it does not print its
// "development-only adapter" warning on every lab start (a lab is development-only by design).
const LabMemoryAdapter = class extends (MemoryAdapter as new (model: string) => object) {};

// --- constants ------------------------------------------------------------------------------------

const TITLE = 'MFP lab — simulated identity provider';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const DAY_MS = 24 * 3600_000;
const TESTING_LIFETIME_MS = 7 * DAY_MS;

const DEFAULT_ACCOUNT: LabAccount = { login: 'printer@lab.example', password: 'lab-password', email: 'printer@lab.example' };
const SCOPE_TEXT: Record<string, string> = {
  'mail.smtp': 'Send mail as you (SMTP)',
  'mail.pop': 'Read your mailbox (POP3)',
  offline_access: 'Keep access while you are away (refresh token)',
  openid: 'Know who you are',
  [MICROSOFT.smtp]: 'Send email as you (SMTP)',
  [MICROSOFT.pop]: 'Read your mailbox (POP)',
  [MICROSOFT.imap]: 'Read and write your mailbox (IMAP)',
  [GOOGLE.mailScope]: 'Read, compose, send and permanently delete all your email from Gmail',
};

// --- HTML -----------------------------------------------------------------------------------------

function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Plain, readable pages; `data-page` lets approveDeviceCode() tell them apart without guessing.
function page(kind: string, heading: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(heading)} · ${esc(TITLE)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#222}
header{border-bottom:1px solid #ccc;margin-bottom:1rem;color:#555;font-size:.9rem}
label{display:block;margin:.6rem 0 .2rem}
input[type=text],input[type=password]{width:100%;padding:.4rem;font-size:1rem;box-sizing:border-box}
button{margin:.8rem .5rem 0 0;padding:.4rem 1rem;font-size:1rem}
.error{color:#b00020;font-weight:bold}
code{font-size:1.4rem}
</style>
</head>
<body data-page="${esc(kind)}">
<header>${esc(TITLE)} — a test lab, not Microsoft or Google</header>
<h1>${esc(heading)}</h1>
${body}
</body>
</html>`;
}

// --- small HTTP helpers ---------------------------------------------------------------------------

async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/**
 * The request again, with `body` as its (already read or rewritten) body, for oidc-provider to parse
 * as usual (handing it over as req.body would work too, but prints oidc-provider's warning).
 */
function withBody(req: IncomingMessage, body: string): IncomingMessage {
  const buf = Buffer.from(body, 'utf8');
  const copy = new Readable({ read() {} });
  copy.push(buf);
  copy.push(null);
  const headers = { ...req.headers, 'content-length': String(buf.length) };
  delete headers['transfer-encoding'];
  Object.assign(copy, {
    headers,
    url: req.url,
    method: req.method,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
    complete: true,
  });
  return copy as unknown as IncomingMessage;
}

function secretEquals(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// --- a browser without a browser: fetch + a tiny cookie jar -------------------------------------

/** kind 'left': a redirect away from the lab (to the client's redirect URI), not followed; url = its Location */
interface Page { url: string; status: number; html: string; kind: string }

class Browser {
  private readonly cookies = new Map<string, string>();
  constructor(private readonly origin: string) {}

  private store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq < 1) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k = '', v = ''] = a.split('=').map((s) => s.trim());
        if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
        return false;
      });
      // Paths are ignored: one flow at a time, and oidc-provider's cookie names do not clash.
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /**
   * GET or POST (form) and follow redirects the way a browser does after a form post (303 → GET).
   * A redirect to another origin, or one `leave` says is the client's, is returned (kind 'left'),
   * not followed.
   */
  async go(path: string, form?: Record<string, string>, leave?: (url: URL) => boolean): Promise<Page> {
    let url = new URL(path, this.origin).toString();
    let method = form ? 'POST' : 'GET';
    let body: string | undefined = form ? new URLSearchParams(form).toString() : undefined;
    for (let hop = 0; hop < 10; hop++) {
      const headers: Record<string, string> = { accept: 'text/html' };
      if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const res = await fetch(url, { method, headers, body, redirect: 'manual' });
      this.store(res);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.arrayBuffer();
        const next = new URL(location, url);
        if (next.origin !== new URL(this.origin).origin || leave?.(next)) {
          return { url: next.toString(), status: res.status, html: '', kind: 'left' };
        }
        url = next.toString();
        if (res.status !== 307 && res.status !== 308) { method = 'GET'; body = undefined; }
        continue;
      }
      const html = await res.text();
      const kind = /<body[^>]*data-page="([^"]+)"/.exec(html)?.[1] ?? 'unknown';
      return { url, status: res.status, html, kind };
    }
    throw new Error(`too many redirects starting at ${path}`);
  }
}

function hidden(html: string, name: string): string | undefined {
  const re = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`, 'i');
  const alt = new RegExp(`<input[^>]*value="([^"]*)"[^>]*name="${name}"`, 'i');
  return re.exec(html)?.[1] ?? alt.exec(html)?.[1];
}

function formAction(html: string, id?: string): string | undefined {
  const re = id ? new RegExp(`<form[^>]*id="${id}"[^>]*action="([^"]+)"`, 'i') : /<form[^>]*action="([^"]+)"/i;
  return re.exec(html)?.[1]?.replace(/&amp;/g, '&');
}

function pageText(p: Page): string {
  if (p.kind === 'left') return `a redirect (HTTP ${p.status}) away from the lab to ${p.url}`;
  const text = p.html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
  return `${p.kind} page (HTTP ${p.status} at ${new URL(p.url).pathname}): ${text.slice(0, 300)}`;
}

// --- the server -----------------------------------------------------------------------------------

export async function startAuthorizationServer(opts: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  const shape: AuthorizationServerShape = opts.shape ?? 'generic';
  const tenant = shape === 'microsoft' ? opts.tenant ?? MICROSOFT.defaultTenant : undefined;
  const spec = shapeSpec(shape, tenant); // throws on a bad tenant before anything is started
  const paths = spec.paths;
  const deviceInterval = opts.deviceInterval ?? 1;
  const deviceCodeTtl = opts.deviceCodeTtl ?? spec.deviceCodeTtl;
  const accessTokenTtl = opts.accessTokenTtl ?? 3600;
  const accounts = (opts.accounts && opts.accounts.length ? opts.accounts : [DEFAULT_ACCOUNT]).map((a) => ({ ...a }));
  const redirectUris = [...(opts.redirectUris ?? [])];
  const firstAccount = accounts[0]!;

  const device: LabClient = { clientId: 'mfp-device', clientSecret: opts.deviceClientSecret ?? randomBytes(24).toString('base64url') };
  const introspector: LabClient = { clientId: 'lab-mail-servers', clientSecret: opts.introspectorSecret ?? randomBytes(24).toString('base64url') };
  const appOnly: LabClient | undefined = spec.appResource
    ? { clientId: 'mfp-device-app', clientSecret: opts.appOnlyClientSecret ?? randomBytes(24).toString('base64url') }
    : undefined;
  // The mailbox each client may send as with an app-only (client credentials) token.
  const clientMailbox: Record<string, string> = appOnly
    ? { [appOnly.clientId]: opts.appOnlyMailbox ?? firstAccount.email }
    : { [device.clientId]: firstAccount.email };
  const resources = new Map<string, ShapeResource>([[spec.resource.indicator, spec.resource]]);
  if (spec.appResource) resources.set(spec.appResource.indicator, spec.appResource);
  // The paths a device-code fault applies to (google's refusing device endpoint included).
  const devicePath = paths.deviceAuthorization ?? (shape === 'google' ? GOOGLE.deviceCodePath : undefined);

  const byLogin = new Map(accounts.map((a) => [a.login, a]));
  // Grants made through our consent page, per account: resetPassword() destroys them (the memory
  // adapter cannot be listed; with a stateFile the store is asked too, for grants of earlier runs).
  const grantsByAccount = new Map<string, Set<string>>();
  // Read before anything listens: a bad path fails the start, not the first token request.
  const store = opts.stateFile !== undefined ? new FileStore(opts.stateFile) : undefined;

  let fault: AuthorizationServerFault = null;
  // --- how long grants live, on the lab's clock (issue 11) ---
  let clockOffsetMs = 0;
  const labNow = (): number => Date.now() + clockOffsetMs;
  const inactivityLimitMs = (opts.refreshInactivityDays ?? (shape === 'google' ? 180 : 90)) * DAY_MS;
  const testingApp = shape === 'google' && opts.googleTesting === true;
  // By refresh token value (each rotation hands both on): when its grant began, when it was last used.
  const grantStart = new Map<string, number>();
  const lastUsed = new Map<string, number>();
  let signInFrequencySince: number | null = null;
  let claimsChallenge: { strict: boolean } | null = null;
  let dateSkewMs = 0;
  const deviceCodeListeners = new Set<(code: { userCode: string; clientId: string }) => void>();
  const held = new Set<ServerResponse>(); // answers held back by a 'timeout' fault
  let provider: OidcProvider | undefined;
  let providerHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'lab handler failed' });
      else res.destroy();
      // A lab bug should be seen by whoever runs the tests; the message holds no secrets.
      console.error('[auth-lab] handler error:', err instanceof Error ? err.message : err);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const issuer = spec.issuer(baseUrl);
  const endpoints: AuthorizationServerEndpoints = {
    authorization: baseUrl + paths.authorization,
    token: baseUrl + paths.token,
    ...(paths.deviceAuthorization ? { deviceAuthorization: baseUrl + paths.deviceAuthorization } : {}),
    ...(paths.revocation ? { revocation: baseUrl + paths.revocation } : {}),
    introspection: baseUrl + paths.introspection,
  };

  // EC P-256 is generated in about a millisecond (RSA takes 50–500 ms); clients therefore default
  // to ES256 ID tokens.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'ES256', use: 'sig' };

  // The device client's grants: generic as ever; microsoft the device flow (client credentials
  // belong to the app-only client); google no device flow. authorization_code needs a redirect URI;
  // without one the client is registered without it and addRedirectUri() adds both later.
  const deviceGrants = {
    generic: [DEVICE_CODE_GRANT, 'refresh_token', 'client_credentials'],
    microsoft: [DEVICE_CODE_GRANT, 'refresh_token'],
    google: ['refresh_token'],
  }[shape];
  const clients: Record<string, unknown>[] = [
    {
      client_id: device.clientId,
      client_name: 'MFP (multifunction printer)',
      // generic/google: basic works too, oidc-provider accepts either secret method for a
      // secret-based client. microsoft: public; a secret sent anyway is checked and stripped in
      // front of oidc-provider (acceptDeviceSecret).
      ...(shape === 'microsoft'
        ? { token_endpoint_auth_method: 'none' }
        : { client_secret: device.clientSecret, token_endpoint_auth_method: 'client_secret_post' }),
      grant_types: redirectUris.length ? [...deviceGrants, 'authorization_code'] : deviceGrants,
      response_types: redirectUris.length ? ['code'] : [],
      redirect_uris: redirectUris,
    },
    ...(appOnly ? [{
      client_id: appOnly.clientId,
      client_secret: appOnly.clientSecret,
      client_name: 'MFP (app-only, client credentials)',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    }] : []),
    {
      client_id: introspector.clientId,
      client_secret: introspector.clientSecret,
      client_name: 'Lab mail servers (introspection)',
      token_endpoint_auth_method: 'client_secret_basic', // Dovecot sends http://id:secret@…
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ];

  const resourceServerInfo = (r: ShapeResource) => ({
    scope: r.scope,
    audience: r.indicator,
    accessTokenFormat: 'opaque', // opaque so introspection works (oidc-provider does not introspect its JWTs)
    accessTokenTTL: accessTokenTtl,
  });

  // What a restart keeps (stateFile): everything oidc-provider stores through its adapter — grants,
  // opaque access tokens, refresh tokens (with their `consumed` mark, so rotation and reuse detection
  // hold), device codes, sessions, interactions. Not kept: the ID-token signing key and the cookie
  // keys below (new ones each start). Opaque tokens are looked up by id in the adapter and signed
  // by nothing, so neither key matters for them: only ID tokens issued before a restart no longer
  // verify against the new JWKS (a client checks an ID token when it receives it), and a browser
  // sign-in in progress at the restart must start again.
  provider = new Provider(issuer, {
    adapter: store ? store.adapterClass() : LabMemoryAdapter,
    clients,
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    async findAccount(_ctx: unknown, sub: string) {
      const account = byLogin.get(sub);
      if (!account) return undefined;
      return {
        accountId: account.login,
        async claims() { return { sub: account.login, email: account.email, email_verified: true }; },
      };
    },
    async extraTokenClaims(_ctx: unknown, token: { accountId?: string; clientId?: string }) {
      if (token.accountId) return { email: byLogin.get(token.accountId)?.email };
      const mailbox = token.clientId ? clientMailbox[token.clientId] : undefined;
      if (!mailbox) return undefined;
      // Exchange's app-only tokens carry the application permissions as `roles`.
      return appOnly && token.clientId === appOnly.clientId ? { email: mailbox, roles: spec.appResource!.roles } : { email: mailbox };
    },
    // Google keeps one refresh token per grant; Microsoft and the generic lab replace it on each use.
    rotateRefreshToken: shape !== 'google',
    routes: {
      authorization: paths.authorization,
      token: paths.token,
      introspection: paths.introspection,
      jwks: paths.jwks,
      ...(paths.deviceAuthorization ? { device_authorization: paths.deviceAuthorization } : {}),
      ...(paths.codeVerification ? { code_verification: paths.codeVerification } : {}),
      ...(paths.revocation ? { revocation: paths.revocation } : {}),
    },
    pkce: { methods: ['S256'], required: () => true },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    ttl: {
      AccessToken: accessTokenTtl,
      ClientCredentials: accessTokenTtl,
      DeviceCode: deviceCodeTtl,
      RefreshToken: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: shape !== 'google' },
      introspection: {
        enabled: true,
        // the mail servers' client may look at any token; another client only at its own tokens
        async allowedPolicy(_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) {
          return client.clientId === introspector.clientId || client.clientId === token.clientId;
        },
      },
      revocation: { enabled: paths.revocation !== undefined },
      deviceFlow: {
        enabled: paths.deviceAuthorization !== undefined,
        charset: 'base-20',
        mask: spec.userCodeMask,
        userCodeInputSource,
        userCodeConfirmSource,
        successSource,
      },
      resourceIndicators: {
        enabled: true,
        // A request without `resource` gets the mail resource; when several were granted, the first.
        // Microsoft's app-only client gets the app resource (outlook.office365.com) instead.
        async defaultResource(_ctx: unknown, client: { clientId?: string } | undefined, oneOf?: string[]) {
          if (oneOf && oneOf.length) return oneOf[0];
          if (appOnly && spec.appResource && client?.clientId === appOnly.clientId) return spec.appResource.indicator;
          return spec.resource.indicator;
        },
        async useGrantedResource() { return true; },
        async getResourceServerInfo(ctx: KoaContext, resource: string, client?: { clientId?: string }) {
          const r = resources.get(resource);
          if (!r) throw new OidcErrors.InvalidTarget();
          if (appOnly && spec.appResource) {
            const isApp = client?.clientId === appOnly.clientId;
            if (isApp !== (r === spec.appResource)) throw new OidcErrors.InvalidTarget();
            if (isApp) checkAppOnlyScope(ctx.oidc?.params?.scope);
          }
          return resourceServerInfo(r);
        },
      },
    },
    async renderError(ctx: KoaContext, out: Record<string, string>) {
      ctx.type = 'html';
      // The providers' own words for a redirect URI that is not registered.
      if (out.error === 'invalid_redirect_uri' && shape === 'google') {
        ctx.body = page('error', 'Access blocked: this app\'s request is invalid',
          `<p class="error" data-error="redirect_uri_mismatch">Error 400: redirect_uri_mismatch</p><p>${esc(out.error_description)}</p>`);
        return;
      }
      if (out.error === 'invalid_redirect_uri' && shape === 'microsoft') {
        ctx.body = page('error', 'Sorry, but we\'re having trouble signing you in.',
          `<p class="error" data-error="invalid_redirect_uri">AADSTS50011: The redirect URI specified in the request does not match the redirect URIs configured for the application.</p><p>${esc(out.error_description)}</p>`);
        return;
      }
      ctx.body = page('error', 'Something went wrong',
        `<p class="error" data-error="${esc(out.error)}">${esc(out.error)}</p><p>${esc(out.error_description)}</p>`);
    },
  });

  // Answers oidc-provider builds, adjusted to the shape.
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body) && !(ctx.body instanceof Readable)
      ? ctx.body as Record<string, unknown>
      : undefined;
    if (!body) return;
    if (ctx.path === paths.deviceAuthorization && ctx.status === 200) {
      // oidc-provider sends no `interval`, so clients would poll every 5 s; the lab tells its own.
      body.interval = deviceInterval;
      if (typeof body.user_code === 'string') {
        const code = { userCode: body.user_code, clientId: ctx.oidc?.client?.clientId ?? '' };
        for (const listener of deviceCodeListeners) {
          try { listener(code); } catch { /* a listener's failure is not the device's */ }
        }
      }
      if (shape === 'microsoft') {
        delete body.verification_uri_complete;
        body.message = `To sign in, use a web browser to open the page ${String(body.verification_uri)} and enter the code ${String(body.user_code)} to authenticate.`;
      }
    }
    if (ctx.path === paths.token) {
      // Microsoft's poll answer after the person declined (oidc-provider: access_denied).
      if (shape === 'microsoft' && ctx.status === 400 && body.error === 'access_denied') {
        body.error = 'authorization_declined';
        body.error_description = 'The end user denied the authorization request.';
      }
      // Google does not return the refresh token again on a refresh.
      if (shape === 'google' && ctx.status === 200 && ctx.oidc?.params?.grant_type === 'refresh_token') {
        delete body.refresh_token;
      }
    }
  });
  // Each refresh token's grant start and last use, handed on when it rotates (runs before the shape's
  // adjustments above, which remove Google's refresh_token from a refresh answer).
  provider.use(async (ctx, next) => {
    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.path !== paths.token || ctx.status !== 200 || !body || typeof body.access_token !== 'string') return;
    const now = labNow();
    const before = ctx.oidc?.params?.grant_type === 'refresh_token' ? String(ctx.oidc.params.refresh_token ?? '') : undefined;
    const current = typeof body.refresh_token === 'string' ? body.refresh_token : before;
    if (!current) return;
    const started = (before !== undefined ? grantStart.get(before) : undefined) ?? now;
    grantStart.set(current, started);
    lastUsed.set(current, now);
    if (testingApp) body.refresh_token_expires_in = Math.max(0, Math.round((started + TESTING_LIFETIME_MS - now) / 1000));
  });
  // after every provider.use(): Koa composes the middleware list when callback() is called
  providerHandler = provider.callback();

  // --- device flow pages (oidc-provider renders them; we give the HTML) ---

  async function userCodeInputSource(ctx: KoaContext, form: string, _out: unknown, err?: { name?: string; userCode?: string }) {
    if (err && err.name === 'AbortedError') {
      ctx.body = page('device-denied', 'Sign-in cancelled',
        '<p>You denied the device access (or the sign-in was interrupted). The device will be told. You can close this page.</p>');
      return;
    }
    let msg = '<p>Enter the code shown on the printer.</p>';
    if (err && (err.userCode || err.name === 'NoCodeError')) msg = '<p class="error">The code you entered is incorrect. Try again.</p>';
    else if (err) msg = '<p class="error">There was an error processing your request. Try again.</p>';
    ctx.body = page(err ? 'device-input-error' : 'device-input', 'Connect a device',
      `${msg}\n${form.replace('placeholder="Enter code"', 'placeholder="XXXX-XXXX" aria-label="Code"')}\n<button type="submit" form="op.deviceInputForm">Continue</button>`);
  }

  async function userCodeConfirmSource(ctx: KoaContext, form: string, client: { clientId: string; clientName?: string }, _info: unknown, userCode: string) {
    ctx.body = page('device-confirm', 'Confirm the device',
      `<p><strong>${esc(client.clientName ?? client.clientId)}</strong> wants to sign in.</p>
<p>Check that this code is the one shown on the printer:</p>
<p><code data-user-code>${esc(userCode)}</code></p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>`);
  }

  async function successSource(ctx: KoaContext) {
    const name = ctx.oidc?.client?.clientName ?? 'The device';
    ctx.body = page('device-success', 'Device connected',
      `<p>${esc(name)} is signed in. You can close this page and return to the printer.</p>`);
  }

  // --- our own login / consent interaction ---

  function loginPage(uid: string, error?: string, login?: string): string {
    return page('login', 'Sign in',
      `${error ? `<p class="error">${esc(error)}</p>` : '<p>Sign in with a lab account.</p>'}
<form method="post" action="/interaction/${esc(uid)}/login">
<label for="login">Login</label>
<input type="text" id="login" name="login" value="${esc(login ?? '')}" autocomplete="username" autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password">
<button type="submit">Sign in</button>
</form>`);
  }

  async function consentPage(details: InteractionDetails): Promise<string> {
    const clientId = details.params.client_id ?? '';
    const client = clientId ? await provider!.Client.find(clientId) : undefined;
    const requested = String(details.params.scope ?? '').split(' ').filter(Boolean);
    const items = requested.map((s) => `<li>${esc(SCOPE_TEXT[s] ?? s)} <small>(${esc(s)})</small></li>`).join('\n');
    const account = details.session?.accountId ? byLogin.get(details.session.accountId) : undefined;
    return page('consent', 'Allow access?',
      `<p><strong>${esc(client?.clientName ?? clientId)}</strong> asks for access to the account <strong>${esc(account?.email ?? '')}</strong>:</p>
<ul>
${items}
</ul>
<form method="post" action="/interaction/${esc(details.uid)}/confirm">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny" formaction="/interaction/${esc(details.uid)}/abort">Deny</button>
</form>`);
  }

  function remember(accountId: string, grantId: string): void {
    let set = grantsByAccount.get(accountId);
    if (!set) grantsByAccount.set(accountId, (set = new Set()));
    set.add(grantId);
  }

  async function handleInteraction(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    const m = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec(pathname);
    if (!m) return sendHtml(res, 404, page('error', 'Not found', '<p>No such page.</p>'));
    const action = m[2];
    let details: InteractionDetails;
    try {
      details = await provider!.interactionDetails(req, res);
    } catch {
      return sendHtml(res, 400, page('error', 'Sign-in expired',
        '<p class="error">This sign-in request has expired or was opened in another browser.</p><p>Start again from the code shown on the printer.</p>'));
    }
    if (details.uid !== m[1]) {
      return sendHtml(res, 400, page('error', 'Sign-in mismatch', '<p class="error">This page does not belong to the current sign-in.</p>'));
    }
    const prompt = details.prompt.name;

    if (req.method === 'GET' && !action) {
      if (prompt === 'login') return sendHtml(res, 200, loginPage(details.uid));
      if (prompt === 'consent') return sendHtml(res, 200, await consentPage(details));
      return sendHtml(res, 400, page('error', 'Unexpected step', `<p class="error">Unknown prompt ${esc(prompt)}.</p>`));
    }
    if (req.method !== 'POST' || !action) {
      return sendHtml(res, 405, page('error', 'Not allowed', '<p>Use the form.</p>'));
    }
    const form = new URLSearchParams(await readBody(req));
    let result: unknown;
    let merge = false;

    if (action === 'login') {
      if (prompt !== 'login') return sendHtml(res, 400, page('error', 'Unexpected step', '<p class="error">Already signed in.</p>'));
      const login = form.get('login')?.trim() ?? '';
      const account = byLogin.get(login);
      if (!account || !secretEquals(account.password, form.get('password') ?? '')) {
        return sendHtml(res, 401, loginPage(details.uid, 'Wrong login or password.', login));
      }
      result = { login: { accountId: account.login } };
    } else if (action === 'confirm') {
      if (prompt !== 'consent') return sendHtml(res, 400, page('error', 'Unexpected step', '<p class="error">Nothing to approve.</p>'));
      const accountId = details.session?.accountId;
      const clientId = details.params.client_id;
      if (!accountId || !clientId) return sendHtml(res, 400, page('error', 'Unexpected step', '<p class="error">No signed-in account.</p>'));
      const existing = details.grantId ? await provider!.Grant.find(details.grantId) : undefined;
      const grant = existing ?? new provider!.Grant({ accountId, clientId });
      const d = details.prompt.details;
      if (d.missingOIDCScope?.length) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims?.length) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      const grantId = await grant.save();
      remember(accountId, grantId);
      result = { consent: { grantId } };
      merge = true;
    } else {
      result = { error: 'access_denied', error_description: 'End-User denied the request' };
    }
    const location = await provider!.interactionResult(req, res, result, { mergeWithLastSubmission: merge });
    res.writeHead(303, { location, 'cache-control': 'no-store' });
    res.end();
  }

  // --- shape rules in front of oidc-provider ---

  // Microsoft: client credentials need exactly `<resource>/.default` (AADSTS1002012 otherwise).
  function checkAppOnlyScope(scope: unknown): void {
    const asked = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
    if (!asked.length) throw new OidcErrors.InvalidRequest("AADSTS90014: The required field 'scope' is missing from the credential.");
    const wrong = asked.filter((s) => s !== spec.appResource!.scope);
    if (wrong.length) {
      throw new OidcErrors.InvalidScope(`AADSTS1002012: The provided value for scope ${wrong.join(' ')} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
  }

  // Microsoft: the device client is public, but a secret sent anyway (post or basic) is accepted when
  // right and refused when wrong; oidc-provider then sees a public client request.
  function acceptDeviceSecret(req: IncomingMessage, body: string): { body: string } | { error: string } {
    const form = new URLSearchParams(body);
    let clientId = form.get('client_id') ?? undefined;
    let secret = form.get('client_secret') ?? undefined;
    let basic = false;
    const authz = req.headers.authorization;
    if (authz && /^basic\s/i.test(authz)) {
      const decoded = Buffer.from(authz.slice(6).trim(), 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i < 0) return { body }; // malformed: oidc-provider says so
      const decode = (v: string): string => { try { return decodeURIComponent(v.replace(/\+/g, '%20')); } catch { return v; } };
      const id = decode(decoded.slice(0, i));
      if (id !== device.clientId || (clientId !== undefined && clientId !== id) || secret !== undefined) return { body };
      clientId = id;
      secret = decode(decoded.slice(i + 1));
      basic = true;
    }
    if (clientId !== device.clientId || secret === undefined) return { body };
    if (!secretEquals(secret, device.clientSecret)) return { error: 'AADSTS7000215: Invalid client secret provided.' };
    form.delete('client_secret');
    form.set('client_id', clientId);
    if (basic) delete req.headers.authorization;
    return { body: form.toString() };
  }

  // Google: `access_type=offline` asks for a refresh token (oidc-provider: the offline_access scope).
  function googleAuthorizationQuery(url: URL): { url: string } | { error: string; description: string } {
    const params = new URLSearchParams(url.search);
    const scopes = (params.get('scope') ?? '').split(' ').filter(Boolean);
    if (scopes.includes('offline_access')) {
      return { error: 'invalid_scope', description: 'Some requested scopes were invalid. {invalid=[offline_access]}' };
    }
    const accessType = params.get('access_type');
    if (accessType !== null && accessType !== 'online' && accessType !== 'offline') {
      return { error: 'invalid_request', description: `Invalid access_type: ${accessType}` };
    }
    if (accessType === 'offline') params.set('scope', [...scopes, 'offline_access'].join(' '));
    return { url: `${url.pathname}?${params.toString()}` };
  }

  function googleErrorPage(error: string, description: string): string {
    return page('error', 'Access blocked: authorization error',
      `<p class="error" data-error="${esc(error)}">Error 400: ${esc(error)}</p><p>${esc(description)}</p>`);
  }

  // --- fault injection, in front of everything ---

  function faultFor(pathname: string): AuthorizationServerFault {
    if (!fault) return null;
    const hit = fault.endpoint === 'any'
      || (fault.endpoint === 'token' && pathname === paths.token)
      || (fault.endpoint === 'device' && pathname === devicePath);
    return hit ? fault : null;
  }

  function consumeFault(): void {
    if (fault && fault.count !== undefined) {
      fault.count -= 1;
      if (fault.count <= 0) fault = null;
    }
  }

  // --- the provider's rules on refresh tokens, on the lab's clock ---

  /** Microsoft's shape of a token error (AADSTS code first), Google's, or the lab's own. */
  function refuseGrant(res: ServerResponse, aadsts: number, microsoft: string, other: string): void {
    const body = shape === 'microsoft'
      ? { error: 'invalid_grant', error_description: `AADSTS${aadsts}: ${microsoft} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date(labNow()).toISOString().replace('T', ' ').slice(0, 19)}Z`, error_codes: [aadsts], suberror: 'bad_token' }
      : { error: 'invalid_grant', error_description: other };
    sendJson(res, 400, body);
  }

  /**
   * A refresh request under the provider's rules: unused too long, past a Testing app's 7 days, older
   * than a sign-in frequency policy, or challenged for claims. Answers and returns true when it refuses;
   * otherwise returns the body to pass on (a `claims` answer taken off: oidc-provider knows none).
   */
  async function refreshUnderRules(body: string, res: ServerResponse): Promise<string | true> {
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'refresh_token') return body;
    const value = form.get('refresh_token') ?? '';
    const now = labNow();
    const started = grantStart.get(value);
    const used = lastUsed.get(value);
    const issued = (date: number | undefined) => new Date(date ?? now).toISOString().slice(0, 19);
    if (testingApp && started !== undefined && now - started > TESTING_LIFETIME_MS) {
      refuseGrant(res, 700082, '', 'Token has been expired or revoked.');
      return true;
    }
    if (used !== undefined && now - used > inactivityLimitMs) {
      const days = Math.floor((now - used) / DAY_MS);
      refuseGrant(res, 700082, `The refresh token has expired due to inactivity. The token was issued on ${issued(used)}Z and was inactive for ${days}.00:00:00.`, 'Token has been expired or revoked.');
      return true;
    }
    if (signInFrequencySince !== null && (started ?? now) < signInFrequencySince) {
      refuseGrant(res, 70043, `The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on ${issued(started)}Z and the maximum allowed lifetime for this request is 3600.`, 'The sign-in frequency policy requires a new sign-in.');
      return true;
    }
    if (claimsChallenge) {
      if (!form.has('claims')) {
        const claims = Buffer.from(JSON.stringify({ access_token: { nbf: { essential: true, value: String(Math.floor(now / 1000)) } } })).toString('base64');
        res.writeHead(401, { 'www-authenticate': `Bearer realm="", error="insufficient_claims", error_description="Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp", claims="${claims}"`, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
        res.end(JSON.stringify({ error: 'insufficient_claims' }));
        return true;
      }
      if (claimsChallenge.strict) {
        sendJson(res, 400, { error: 'interaction_required', error_description: 'AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.', error_codes: [50076] });
        return true;
      }
      claimsChallenge = null; // answered with the claims: the next sign-in is fresh enough
    }
    form.delete('claims');
    return form.toString();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', baseUrl);
    const pathname = url.pathname;
    let body: string | undefined; // set once the body has been read here
    // The lab's clock (and a skewed one) in every answer, as the device's clock check reads it.
    if (clockOffsetMs || dateSkewMs) res.setHeader('date', new Date(labNow() + dateSkewMs).toUTCString());
    const f = faultFor(pathname);
    if (f && (f.kind === 'slow_down' || f.kind === 'expired_token') && pathname === paths.token) {
      // slow_down and expired_token only make sense for device-code polling: other token requests
      // (refresh, client credentials) pass through, their body handed over again (withBody).
      body = await readBody(req);
      if (new URLSearchParams(body).get('grant_type') === DEVICE_CODE_GRANT) {
        consumeFault();
        return f.kind === 'slow_down'
          ? sendJson(res, 400, { error: 'slow_down', error_description: 'simulated fault: poll slower' })
          : sendJson(res, 400, { error: 'expired_token', error_description: 'simulated fault: the device code has expired' });
      }
    } else if (f) {
      consumeFault();
      switch (f.kind) {
        case 'slow_down':
          return sendJson(res, 400, { error: 'slow_down', error_description: 'simulated fault: poll slower' });
        case 'expired_token':
          return sendJson(res, 400, { error: 'expired_token', error_description: 'simulated fault: the device code has expired' });
        case 'server_error':
          return sendJson(res, 500, { error: 'server_error', error_description: 'simulated fault' });
        case 'malformed_json':
          res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
          res.end('{"access_token": "trunc');
          return;
        case 'timeout':
          // never answered; close() destroys the connection
          held.add(res);
          res.on('close', () => held.delete(res));
          return;
      }
    }
    if (req.method === 'POST' && pathname === paths.token) {
      const passed = await refreshUnderRules(body ??= await readBody(req), res);
      if (passed === true) return;
      body = passed;
    }
    if (pathname.startsWith('/interaction/')) return handleInteraction(req, res, pathname);

    if (shape === 'microsoft') {
      // Microsoft publishes discovery under the tenant's issuer only.
      if (pathname === '/.well-known/openid-configuration') return sendJson(res, 404, { error: 'not_found' });
      if (pathname === paths.discovery) req.url = `/.well-known/openid-configuration${url.search}`;
      // Microsoft gives a refresh token for offline_access without prompt=consent; oidc-provider
      // follows OpenID's rule (offline_access only with prompt=consent), so an authorization request
      // with offline_access and no prompt at all gets prompt=consent (a fresh sign-in consents anyway).
      if (pathname === paths.authorization && req.method === 'GET' && !url.searchParams.has('prompt')
        && (url.searchParams.get('scope') ?? '').split(' ').includes('offline_access')) {
        const params = new URLSearchParams(url.search);
        params.set('prompt', 'consent');
        req.url = `${pathname}?${params.toString()}`;
      }
      if (req.method === 'POST' && (pathname === paths.token || pathname === paths.deviceAuthorization)) {
        body ??= await readBody(req);
        const accepted = acceptDeviceSecret(req, body);
        if ('error' in accepted) return sendJson(res, 401, { error: 'invalid_client', error_description: accepted.error });
        body = accepted.body;
      }
    }
    if (shape === 'google') {
      // The issuer is Google's https one while the lab speaks plain http on loopback, on purpose:
      // saying so (Koa ignores the header, proxy is off) spares oidc-provider's "x-forwarded-proto
      // header not detected for an https issuer" warning.
      req.headers['x-forwarded-proto'] ??= 'http';
      if (pathname === GOOGLE.deviceCodePath) {
        if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Use POST.' });
        // Google's device flow supports a short list of scopes; https://mail.google.com/ is not one.
        if (body === undefined) await readBody(req);
        return sendJson(res, 400, { error: 'invalid_scope' });
      }
      if (pathname === paths.authorization && req.method === 'GET') {
        const rewritten = googleAuthorizationQuery(url);
        if ('error' in rewritten) return sendHtml(res, 400, googleErrorPage(rewritten.error, rewritten.description));
        req.url = rewritten.url;
      }
    }
    return providerHandler!(body === undefined ? req : withBody(req, body), res);
  }

  // --- the robot person -------------------------------------------------------------------------

  async function driveDeviceCode(userCode: string, account: LabAccount, approve: boolean): Promise<void> {
    if (!paths.codeVerification) throw new Error(`device sign-in: the ${shape}-shaped lab has no device flow`);
    const browser = new Browser(baseUrl);
    const expect = (p: Page, kind: string, step: string): void => {
      if (p.kind !== kind) throw new Error(`device sign-in (${step}): expected the ${kind} page, got ${pageText(p)}`);
    };
    let p = await browser.go(paths.codeVerification);
    expect(p, 'device-input', 'open the verification page');
    const inputXsrf = hidden(p.html, 'xsrf');
    const inputAction = formAction(p.html, 'op.deviceInputForm');
    if (!inputXsrf || !inputAction) throw new Error(`device sign-in: the code form has no xsrf field or action: ${pageText(p)}`);

    p = await browser.go(inputAction, { xsrf: inputXsrf, user_code: userCode });
    expect(p, 'device-confirm', 'enter the user code');
    const shown = /<code data-user-code>([^<]*)<\/code>/.exec(p.html)?.[1] ?? '';
    const norm = (s: string): string => s.replace(/[^0-9a-z]/gi, '').toUpperCase();
    if (norm(shown) !== norm(userCode)) throw new Error(`device sign-in: the confirmation page shows code "${shown}", not "${userCode}"`);
    const confirmXsrf = hidden(p.html, 'xsrf');
    const confirmAction = formAction(p.html, 'op.deviceConfirmForm');
    if (!confirmXsrf || !confirmAction) throw new Error(`device sign-in: the confirm form has no xsrf field or action: ${pageText(p)}`);

    p = await browser.go(confirmAction, { xsrf: confirmXsrf, user_code: hidden(p.html, 'user_code') ?? userCode, confirm: 'yes' });
    for (let step = 0; step < 6; step++) {
      if (p.kind === 'login') {
        const action = formAction(p.html);
        if (!action) throw new Error(`device sign-in: login form without action: ${pageText(p)}`);
        const before = p.url;
        p = await browser.go(action, { login: account.login, password: account.password });
        if (p.kind === 'login') throw new Error(`device sign-in: login as ${account.login} refused (${new URL(before).pathname}): ${pageText(p)}`);
        continue;
      }
      if (p.kind === 'consent') {
        const uid = /action="\/interaction\/([\w-]+)\/confirm"/.exec(p.html)?.[1];
        if (!uid) throw new Error(`device sign-in: consent page without its form: ${pageText(p)}`);
        p = await browser.go(`/interaction/${uid}/${approve ? 'confirm' : 'abort'}`, { decision: approve ? 'approve' : 'deny' });
        continue;
      }
      if (approve && p.kind === 'device-success') return;
      if (!approve && p.kind === 'device-denied') return;
      break;
    }
    throw new Error(`device sign-in: expected the ${approve ? 'device-success' : 'device-denied'} page, got ${pageText(p)}`);
  }

  async function driveAuthorization(authorizationUrl: string, account: LabAccount, approve: boolean): Promise<string> {
    const what = approve ? 'authorization sign-in' : 'authorization sign-in (deny)';
    let start: URL;
    try { start = new URL(authorizationUrl); } catch { throw new Error(`${what}: not an absolute URL: ${authorizationUrl}`); }
    if (start.origin !== baseUrl || start.pathname !== paths.authorization) {
      throw new Error(`${what}: ${start.origin}${start.pathname} is not this lab's authorization endpoint (${endpoints.authorization})`);
    }
    // Stop at the device's redirect URI even when it is on the lab's own origin (other origins: always).
    const redirects = new Set((await provider!.Client.find(device.clientId))?.redirectUris ?? []);
    const leave = (u: URL): boolean => redirects.has(`${u.origin}${u.pathname}`) || redirects.has(u.href);
    const browser = new Browser(baseUrl);
    let p = await browser.go(start.toString(), undefined, leave);
    let consented = false;
    for (let step = 0; step < 6; step++) {
      if (p.kind === 'left') {
        const back = new URL(p.url);
        const error = back.searchParams.get('error') ?? undefined;
        const desc = back.searchParams.get('error_description');
        if (approve && !error && back.searchParams.has('code')) return p.url;
        if (!approve && error === 'access_denied') return p.url;
        throw new AuthorizationRedirectError(
          `${what}: the browser was sent back to ${back.origin}${back.pathname} ${error ? `with error=${error}${desc ? ` (${desc})` : ''}` : 'without an error'}${consented ? '' : ' before any sign-in page'}`,
          p.url, error);
      }
      if (p.kind === 'login') {
        const action = formAction(p.html);
        if (!action) throw new Error(`${what}: login form without action: ${pageText(p)}`);
        const before = p.url;
        p = await browser.go(action, { login: account.login, password: account.password }, leave);
        if (p.kind === 'login') throw new Error(`${what}: login as ${account.login} refused (${new URL(before).pathname}): ${pageText(p)}`);
        continue;
      }
      if (p.kind === 'consent') {
        const uid = /action="\/interaction\/([\w-]+)\/confirm"/.exec(p.html)?.[1];
        if (!uid) throw new Error(`${what}: consent page without its form: ${pageText(p)}`);
        consented = true;
        p = await browser.go(`/interaction/${uid}/${approve ? 'confirm' : 'abort'}`, { decision: approve ? 'approve' : 'deny' }, leave);
        continue;
      }
      break;
    }
    throw new Error(`${what}: expected the login or consent page or a redirect back to the device, got ${pageText(p)}`);
  }

  function accountOrDefault(account?: LabAccount): LabAccount {
    return account ?? firstAccount;
  }

  let closed = false;
  return {
    shape,
    baseUrl,
    issuer,
    endpoints,
    ...(tenant !== undefined ? { tenant } : {}),
    device,
    introspector,
    ...(appOnly ? { appOnly } : {}),
    accounts,
    scopes: { ...spec.scopes },
    resource: spec.resource.indicator,
    approveDeviceCode: (userCode, account) => driveDeviceCode(userCode, accountOrDefault(account), true),
    denyDeviceCode: (userCode, account) => driveDeviceCode(userCode, accountOrDefault(account), false),
    approveAuthorization: (authorizationUrl, account) => driveAuthorization(authorizationUrl, accountOrDefault(account), true),
    denyAuthorization: (authorizationUrl, account) => driveAuthorization(authorizationUrl, accountOrDefault(account), false),
    async addRedirectUri(uri) {
      let parsed: URL;
      try { parsed = new URL(uri); } catch { throw new Error(`addRedirectUri: not an absolute URL: ${uri}`); }
      if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hash) {
        throw new Error(`addRedirectUri: an http(s) URL without a fragment is needed, got ${uri}`);
      }
      // oidc-provider validated the static client once; its metadata arrays are read on every request.
      const client = await provider!.Client.find(device.clientId);
      if (!client) throw new Error('addRedirectUri: the device client is missing');
      if (!client.redirectUris.includes(uri)) client.redirectUris.push(uri);
      if (!client.grantTypes.includes('authorization_code')) client.grantTypes.push('authorization_code');
      if (!client.responseTypes.includes('code')) client.responseTypes.push('code');
      if (!redirectUris.includes(uri)) redirectUris.push(uri);
    },
    async resetPassword(email) {
      let destroyed = 0;
      for (const account of accounts.filter((a) => a.email.toLowerCase() === email.toLowerCase())) {
        const ids = new Set([...(grantsByAccount.get(account.login) ?? []), ...(store?.grantIdsOf(account.login) ?? [])]);
        for (const id of ids) {
          const grant = await provider!.Grant.find(id);
          if (grant) { await grant.destroy(); destroyed++; }
        }
        grantsByAccount.delete(account.login);
      }
      return destroyed;
    },
    async introspect(token) {
      const auth = Buffer.from(`${encodeURIComponent(introspector.clientId)}:${encodeURIComponent(introspector.clientSecret)}`).toString('base64');
      const res = await fetch(endpoints.introspection, {
        method: 'POST',
        headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token }).toString(),
      });
      if (!res.ok) throw new Error(`introspection failed: HTTP ${res.status}`);
      return (await res.json()) as IntrospectionResult;
    },
    setFault(next) {
      fault = next ? { ...next } : null;
      if (!next) {
        signInFrequencySince = null;
        claimsChallenge = null;
        dateSkewMs = 0;
      }
    },
    setGrantPolicy(policy) {
      if (policy.kind === 'sign_in_frequency') signInFrequencySince = labNow();
      else if (policy.kind === 'insufficient_claims') claimsChallenge = { strict: policy.strict === true };
      else dateSkewMs = policy.ms;
    },
    setClockOffset(ms) {
      clockOffsetMs = ms;
    },
    onDeviceCode(listener) {
      deviceCodeListeners.add(listener);
      return () => { deviceCodeListeners.delete(listener); };
    },
    async close() {
      if (closed) return;
      closed = true;
      fault = null;
      for (const res of held) res.destroy();
      held.clear();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await done;
      store?.close();
    },
  };
}
