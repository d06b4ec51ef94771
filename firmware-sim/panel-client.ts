/**
 * Drives the device's web panel over HTTP exactly as a browser without JavaScript would: cookies,
 * the CSRF field of each form, redirects. The simulator uses it to set up a device; tests use it too.
 */

export interface PanelResponse {
  status: number;
  url: string;
  html: string;
  headers: Headers;
}

export const PAGE_PATHS = { smtp: '/settings/network/smtp', pop: '/settings/system/email-status' } as const;
export type PanelPurpose = keyof typeof PAGE_PATHS;

export class PanelClient {
  readonly #cookies = new Map<string, string>();
  #lastHtml = '';

  constructor(readonly baseUrl: string) {}

  get lastHtml(): string {
    return this.#lastHtml;
  }

  /** The cookies this client holds, as a Cookie header (for requests it does not make itself). */
  cookieHeader(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async request(method: 'GET' | 'POST', path: string, form?: Record<string, string>, redirects = 5): Promise<PanelResponse> {
    const url = new URL(path, this.baseUrl);
    const response = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        cookie: this.cookieHeader(),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        accept: 'text/html',
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = pair!.indexOf('=');
      this.#cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location && redirects > 0) {
      await response.body?.cancel();
      return this.request('GET', location, undefined, redirects - 1);
    }
    const html = await response.text();
    this.#lastHtml = html;
    return { status: response.status, url: url.pathname, html, headers: response.headers };
  }

  get(path: string): Promise<PanelResponse> {
    return this.request('GET', path);
  }

  /** Posts a form with the CSRF token of the page it came from (fetched first when not given). */
  async submit(path: string, fields: Record<string, string>, formPage: string = path): Promise<PanelResponse> {
    const page = await this.get(formPage);
    return this.request('POST', path, { _csrf: csrfTokenOf(page.html), ...fields });
  }

  async login(password: string, user = 'admin'): Promise<PanelResponse> {
    const response = await this.submit('/login', { user, password });
    if (response.status !== 200 || !response.html.includes('action="/logout"')) {
      throw new Error(`login failed with HTTP ${response.status}: ${textOf(response.html).slice(0, 200)}`);
    }
    return response;
  }

  async json<T = Record<string, unknown>>(path: string): Promise<{ status: number; body: T }> {
    const response = await fetch(new URL(path, this.baseUrl), {
      headers: { cookie: this.cookieHeader(), accept: 'application/json' },
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  /** Adds an OAuth authorization server; returns its id as the panel assigned it. */
  async addProvider(fields: Record<string, string>): Promise<string> {
    const response = await this.submit('/settings/network/oauth-servers', { type: 'custom', ...fields }, '/settings/network/oauth-servers/new');
    if (response.status !== 200) throw new Error(`adding the provider failed: ${errorsOf(response.html).join('; ')}`);
    const id = providerIdByName(response.html, fields.name ?? '');
    if (!id) throw new Error(`the provider ${fields.name} is not listed after saving`);
    return id;
  }

  saveSettings(purpose: PanelPurpose, fields: Record<string, string>): Promise<PanelResponse> {
    return this.submit(PAGE_PATHS[purpose], fields);
  }

  /** Changes some fields of a settings page and saves it, the others as the page shows them (secrets kept). */
  async changeSettings(purpose: PanelPurpose, changes: Record<string, string>): Promise<PanelResponse> {
    const page = await this.get(PAGE_PATHS[purpose]);
    return this.request('POST', PAGE_PATHS[purpose], { ...formValuesOf(page.html), ...changes, _csrf: csrfTokenOf(page.html) });
  }

  /** Presses Get Token and then OK on the confirmation. */
  getToken(purpose: PanelPurpose): Promise<PanelResponse> {
    return this.submit(`${PAGE_PATHS[purpose]}/token/get`, { confirm: 'ok' }, PAGE_PATHS[purpose]);
  }

  /** Presses Delete and then OK on the confirmation. */
  deleteToken(purpose: PanelPurpose): Promise<PanelResponse> {
    return this.submit(`${PAGE_PATHS[purpose]}/token/delete`, { confirm: 'ok' }, PAGE_PATHS[purpose]);
  }

  async tokenStatus(purpose: PanelPurpose): Promise<TokenStatusAnswer> {
    const { status, body } = await this.json<TokenStatusAnswer>(`/api/token-status/${purpose}`);
    if (status !== 200) throw new Error(`token status answered HTTP ${status}`);
    return body;
  }

  /** Waits until the page's token reaches one of the states (polling the JSON status as the page does). */
  async waitForState(purpose: PanelPurpose, states: string[], timeoutMs = 30_000): Promise<TokenStatusAnswer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.tokenStatus(purpose);
      if (states.includes(status.state)) return status;
      if (Date.now() > deadline) throw new Error(`token of ${purpose} stayed ${status.state}, expected ${states.join(' or ')}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

export interface TokenStatusAnswer {
  purpose: string;
  configured: boolean;
  state: 'not_obtained' | 'awaiting_authorization' | 'obtained' | 'invalid';
  stateLabel: string;
  reason: string | null;
  remedy: string | null;
  warning: string | null;
  pending: { userCode: string; verificationUri: string; verificationUriComplete: string | null; secondsLeft: number } | null;
  sharedWith: { purpose: string; title: string }[];
  providerName: string | null;
  account: string | null;
}

export function csrfTokenOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match) throw new Error('the page has no form with a CSRF token');
  return match[1]!;
}

/** The values a page's form fields show (inputs and selected options), by field name; secrets show blank. */
export function formValuesOf(html: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const m of html.matchAll(/<input id="f-[^"]+" name="([^"]+)" type="[a-z]+" value="([^"]*)"/g)) values[m[1]!] = textOf(m[2]!);
  for (const m of html.matchAll(/<select id="f-[^"]+" name="([^"]+)"[^>]*>([\s\S]*?)<\/select>/g)) {
    const selected = /<option value="([^"]*)" selected>/.exec(m[2]!)?.[1];
    if (selected !== undefined) values[m[1]!] = selected;
  }
  return values;
}

/** The messages next to fields and in alert boxes, as a person would read them. */
export function errorsOf(html: string): string[] {
  return [...html.matchAll(/<p class="(?:error|flash flash-error)"[^>]*>([\s\S]*?)<\/p>/g)].map((m) => textOf(m[1]!));
}

/** The message next to one field. */
export function fieldErrorOf(html: string, field: string): string | undefined {
  const match = new RegExp(`<p class="error" id="e-${field}">([\\s\\S]*?)</p>`).exec(html);
  return match ? textOf(match[1]!) : undefined;
}

/** The displayed token state ("Not obtained", ...) of a settings page. */
export function tokenLabelOf(html: string): string | undefined {
  const match = /data-token-label>([^<]*)</.exec(html);
  return match ? textOf(match[1]!) : undefined;
}

export function providerIdByName(html: string, name: string): string | undefined {
  for (const match of html.matchAll(/<a href="\/settings\/network\/oauth-servers\/(\d+)">([^<]*)<\/a>/g)) {
    if (textOf(match[2]!) === name) return match[1];
  }
  return undefined;
}

export function textOf(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}
