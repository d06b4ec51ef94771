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

import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
// @ts-expect-error -- oidc-provider 8 ships no type declarations; the few parts used are typed below.
import ProviderModule, { errors as oidcErrors } from 'oidc-provider';
// @ts-expect-error -- same package, deep import of its own in-memory adapter (see LabMemoryAdapter).
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

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
}

export type AuthorizationServerFault = null | {
  kind: 'slow_down' | 'server_error' | 'timeout' | 'malformed_json';
  endpoint: 'token' | 'device' | 'any';
  /** how many matching requests get the fault; unset = until setFault(null) */
  count?: number;
};

export interface IntrospectionResult {
  active: boolean;
  email?: string;
  scope?: string;
  client_id?: string;
  exp?: number;
  sub?: string;
  token_type?: string;
}

export interface AuthorizationServer {
  issuer: string;
  device: LabClient;
  introspector: LabClient;
  accounts: LabAccount[];
  scopes: { smtp: 'mail.smtp'; pop: 'mail.pop' };
  /** the resource indicator the mail scopes belong to (the default resource) */
  resource: string;
  approveDeviceCode(userCode: string, account?: LabAccount): Promise<void>;
  denyDeviceCode(userCode: string, account?: LabAccount): Promise<void>;
  resetPassword(email: string): Promise<number>;
  introspect(token: string): Promise<IntrospectionResult>;
  setFault(fault: AuthorizationServerFault): void;
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
  Grant: { new (init: { accountId: string; clientId: string }): OidcGrant; find(id: string): Promise<OidcGrant | undefined> };
  Client: { find(id: string): Promise<{ clientId: string; clientName?: string } | undefined> };
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
  oidc?: { client?: { clientId: string; clientName?: string } };
}
type ProviderCtor = new (issuer: string, config: Record<string, unknown>) => OidcProvider;
const Provider = ProviderModule as ProviderCtor;

// oidc-provider's own in-memory adapter; subclassed only so it does not print its
// "development-only adapter" warning on every lab start (a lab is development-only by design).
const LabMemoryAdapter = class extends (MemoryAdapter as new (model: string) => object) {};

// --- constants ------------------------------------------------------------------------------------

const TITLE = 'MFP lab — simulated identity provider';
const MAIL_RESOURCE = 'urn:mfp-lab:mail';
const SCOPES = { smtp: 'mail.smtp', pop: 'mail.pop' } as const;
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const DEFAULT_ACCOUNT: LabAccount = { login: 'printer@lab.example', password: 'lab-password', email: 'printer@lab.example' };
const SCOPE_TEXT: Record<string, string> = {
  'mail.smtp': 'Send mail as you (SMTP)',
  'mail.pop': 'Read your mailbox (POP3)',
  offline_access: 'Keep access while you are away (refresh token)',
  openid: 'Know who you are',
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

function secretEquals(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// --- a browser without a browser: fetch + a tiny cookie jar -------------------------------------

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

  /** GET or POST (form) and follow redirects the way a browser does after a form post (303 → GET). */
  async go(path: string, form?: Record<string, string>): Promise<Page> {
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
        url = new URL(location, url).toString();
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
  const text = p.html.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
  return `${p.kind} page (HTTP ${p.status} at ${new URL(p.url).pathname}): ${text.slice(0, 300)}`;
}

// --- the server -----------------------------------------------------------------------------------

export async function startAuthorizationServer(opts: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  const deviceInterval = opts.deviceInterval ?? 1;
  const deviceCodeTtl = opts.deviceCodeTtl ?? 600;
  const accessTokenTtl = opts.accessTokenTtl ?? 3600;
  const accounts = (opts.accounts && opts.accounts.length ? opts.accounts : [DEFAULT_ACCOUNT]).map((a) => ({ ...a }));
  const redirectUris = opts.redirectUris ?? [];
  const firstAccount = accounts[0]!;

  const device: LabClient = { clientId: 'mfp-device', clientSecret: opts.deviceClientSecret ?? randomBytes(24).toString('base64url') };
  const introspector: LabClient = { clientId: 'lab-mail-servers', clientSecret: opts.introspectorSecret ?? randomBytes(24).toString('base64url') };
  // The mailbox each client may send as with an app-only (client credentials) token.
  const clientMailbox: Record<string, string> = { [device.clientId]: firstAccount.email };

  const byLogin = new Map(accounts.map((a) => [a.login, a]));
  // Grants made through our consent page, per account: resetPassword() destroys them (the memory
  // adapter cannot be listed).
  const grantsByAccount = new Map<string, Set<string>>();

  let fault: AuthorizationServerFault = null;
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
  const issuer = `http://127.0.0.1:${port}`;

  // EC P-256 is generated in about a millisecond (RSA takes 50–500 ms); clients therefore default
  // to ES256 ID tokens.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'ES256', use: 'sig' };

  const clients: Record<string, unknown>[] = [
    {
      client_id: device.clientId,
      client_secret: device.clientSecret,
      client_name: 'MFP (multifunction printer)',
      // basic works too: oidc-provider accepts either secret method for a secret-based client.
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: redirectUris.length
        ? [DEVICE_CODE_GRANT, 'refresh_token', 'client_credentials', 'authorization_code']
        : [DEVICE_CODE_GRANT, 'refresh_token', 'client_credentials'],
      // authorization_code needs a redirect URI; without one the client cannot be registered for it.
      response_types: redirectUris.length ? ['code'] : [],
      redirect_uris: redirectUris,
    },
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

  const resourceServerInfo = {
    scope: `${SCOPES.smtp} ${SCOPES.pop}`,
    audience: MAIL_RESOURCE,
    accessTokenFormat: 'opaque', // opaque so introspection works (oidc-provider does not introspect its JWTs)
    accessTokenTTL: accessTokenTtl,
  };

  provider = new Provider(issuer, {
    adapter: LabMemoryAdapter,
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
      return mailbox ? { email: mailbox } : undefined;
    },
    rotateRefreshToken: true,
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
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // the mail servers' client may look at any token; another client only at its own tokens
        async allowedPolicy(_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) {
          return client.clientId === introspector.clientId || client.clientId === token.clientId;
        },
      },
      revocation: { enabled: true },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource,
        userCodeConfirmSource,
        successSource,
      },
      resourceIndicators: {
        enabled: true,
        // A request without `resource` gets the mail resource; when several were granted, the first.
        async defaultResource(_ctx: unknown, _client: unknown, oneOf?: string[]) {
          return oneOf && oneOf.length ? oneOf[0] : MAIL_RESOURCE;
        },
        async useGrantedResource() { return true; },
        async getResourceServerInfo(_ctx: unknown, resource: string) {
          if (resource !== MAIL_RESOURCE) throw new (oidcErrors as { InvalidTarget: new () => Error }).InvalidTarget();
          return resourceServerInfo;
        },
      },
    },
    async renderError(ctx: KoaContext, out: Record<string, string>) {
      ctx.type = 'html';
      ctx.body = page('error', 'Something went wrong',
        `<p class="error">${esc(out.error)}</p><p>${esc(out.error_description)}</p>`);
    },
  });

  // oidc-provider sends no `interval` in the device authorization response, so clients would poll
  // every 5 s; the lab tells them its own interval.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      (ctx.body as Record<string, unknown>).interval = deviceInterval;
    }
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

  // --- fault injection, in front of everything ---

  function faultFor(pathname: string): AuthorizationServerFault {
    if (!fault) return null;
    const hit = fault.endpoint === 'any'
      || (fault.endpoint === 'token' && pathname === '/token')
      || (fault.endpoint === 'device' && pathname === '/device/auth');
    return hit ? fault : null;
  }

  function consumeFault(): void {
    if (fault && fault.count !== undefined) {
      fault.count -= 1;
      if (fault.count <= 0) fault = null;
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? '/', issuer).pathname;
    const f = faultFor(pathname);
    if (f) {
      if (f.kind === 'slow_down' && pathname === '/token') {
        // slow_down only makes sense for device-code polling: other token requests (refresh, client
        // credentials) pass through. Their body is already read, so it is handed over as req.body,
        // which oidc-provider accepts (it prints a one-time warning about it).
        const raw = await readBody(req);
        if (new URLSearchParams(raw).get('grant_type') === DEVICE_CODE_GRANT) {
          consumeFault();
          return sendJson(res, 400, { error: 'slow_down', error_description: 'simulated fault: poll slower' });
        }
        (req as IncomingMessage & { body?: string }).body = raw;
        return providerHandler!(req, res);
      }
      consumeFault();
      switch (f.kind) {
        case 'slow_down':
          return sendJson(res, 400, { error: 'slow_down', error_description: 'simulated fault: poll slower' });
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
    if (pathname.startsWith('/interaction/')) return handleInteraction(req, res, pathname);
    return providerHandler!(req, res);
  }

  // --- the robot person -------------------------------------------------------------------------

  async function driveDeviceCode(userCode: string, account: LabAccount, approve: boolean): Promise<void> {
    const browser = new Browser(issuer);
    const expect = (p: Page, kind: string, step: string): void => {
      if (p.kind !== kind) throw new Error(`device sign-in (${step}): expected the ${kind} page, got ${pageText(p)}`);
    };
    let p = await browser.go('/device');
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

  function accountOrDefault(account?: LabAccount): LabAccount {
    return account ?? firstAccount;
  }

  let closed = false;
  return {
    issuer,
    device,
    introspector,
    accounts,
    scopes: { ...SCOPES },
    resource: MAIL_RESOURCE,
    approveDeviceCode: (userCode, account) => driveDeviceCode(userCode, accountOrDefault(account), true),
    denyDeviceCode: (userCode, account) => driveDeviceCode(userCode, accountOrDefault(account), false),
    async resetPassword(email) {
      let destroyed = 0;
      for (const account of accounts.filter((a) => a.email.toLowerCase() === email.toLowerCase())) {
        const ids = grantsByAccount.get(account.login) ?? new Set<string>();
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
      const res = await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token }).toString(),
      });
      if (!res.ok) throw new Error(`introspection failed: HTTP ${res.status}`);
      return (await res.json()) as IntrospectionResult;
    },
    setFault(next) {
      fault = next ? { ...next } : null;
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
    },
  };
}
