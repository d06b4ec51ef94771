/**
 * A fuzz run against a running device: logged in as the admin with a valid CSRF token, it posts
 * random and hostile values (fields sent twice, JSON bodies, huge values, control characters, CRLF,
 * markup, odd Unicode) to every form the panel's pages offer, and hostile JSON to the firmware
 * bridge. It prints the answers by status and fails on a 5xx, a device that stops answering, a
 * payload echoed unescaped into a page (now or on a later page: stored), or an injected header.
 *
 * Values are chosen so that no hostile value is a valid host name, address or URL outside this
 * machine: whatever the run saves, the device never reaches out to the network because of it.
 */
import http from 'node:http';
import { csrfTokenOf, PanelClient } from '../panel-client.js';
import { makePdf } from '../pdf.js';
import { discoverForms, formsOf, type PanelForm } from './forms.js';

export interface FuzzOptions {
  /** How many requests in all (panel forms and bridge). */
  posts: number;
  /** The panel, e.g. http://127.0.0.1:8080 (plain HTTP allowed). */
  panelUrl: string;
  adminPassword: string;
  /** The firmware bridge's Unix socket; without it only the panel is fuzzed. */
  firmwareSocket?: string;
  /** Share of the requests that go to the bridge (when there is one). */
  bridgeShare?: number;
  /** The same seed gives the same run. */
  seed?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  print?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  requests: number;
  /** "POST /settings/network/smtp 400" → count; bridge answers as "bridge POST /events 400". */
  byStatus: Record<string, number>;
  /** What went wrong, one line each (empty: the run passed). */
  failures: string[];
}

/** mulberry32: small, seeded, good enough to pick values. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INJECTED_HEADER = 'X-Fuzz-Injected';

/**
 * Hostile text; `{m}` becomes a marker unique to the request. In markup payloads the marker comes
 * right after the character that matters (`<`, or a quote after an x), early, so even a shortened
 * echo shows: escaped, a page has `&lt;fz…` or `x&#34;fz…`; `<fz…` or `x"fz…` in a page means unescaped.
 */
const TEXT_VALUES = [
  '<{m}>alert(1)</script><script>alert(1)</script>',
  'x"{m}><img src=x onerror=alert(1)>',
  "x'{m}><svg onload=alert(1)>",
  '</textarea><{m} id="x">',
  `x\r\n${INJECTED_HEADER}: {m}`,
  `%0d%0a${INJECTED_HEADER}:%20{m}`,
  `/\r\nLocation: //evil{m}`,
  '\u0000\u0007\u001b[31m{m}\u007f',
  ' \t \n ',
  '',
  '-1',
  '99999999999999999999 {m}',
  'NaN {m}',
  "' OR 1=1 -- {m}",
  '${7*7} {{7*7}} <%= it %> {m}',
  '../../../../etc/passwd {m}',
  'javascript:alert("{m}")',
  'http://127.0.0.1:1/{m}?x="<>',
  '\u202e{m}\u202d 𝒻𝓊𝓏𝓏 ﷽ \ud83d\ude00 \ufeff',
  '\ud800 lone surrogate {m}',
  'a@@b <{m}>',
];
const UNESCAPED = /(?:<|x"|x')fz[0-9a-z]+z/;

const marker = (n: number) => `fz${n.toString(36)}z`;

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const report: FuzzReport = { seed, requests: 0, byStatus: {}, failures: [] };
  const fail = (line: string) => {
    if (report.failures.length < 200) report.failures.push(line);
  };
  const count = (key: string) => (report.byStatus[key] = (report.byStatus[key] ?? 0) + 1);
  let serial = 0;

  const admin = new PanelClient(options.panelUrl);
  await admin.login(options.adminPassword);
  const forms = (await discoverForms(admin)).filter((form) => form.action !== '/logout'); // posting it would end the run's session
  const login: PanelForm = { action: '/login', page: '/login', fields: { user: 'admin', password: '' }, submitters: [{}] };
  const stranger = new PanelClient(options.panelUrl);
  let csrf = csrfTokenOf((await admin.get('/')).html);
  const strangerCsrf = csrfTokenOf((await stranger.get('/login')).html);

  function hostile(): string {
    const n = ++serial;
    const roll = rand();
    if (roll < 0.05) return 'A'.repeat(1 + Math.floor(rand() * 300)) + ' ' + marker(n); // long (not a host name: the space)
    if (roll < 0.07) return `<${marker(n)}>`.repeat(20_000); // over the 64 KB body limit
    return pick(TEXT_VALUES).replaceAll('{m}', marker(n));
  }

  function formBody(form: PanelForm, token: string): { body: string; contentType: string } {
    const given = { ...form.fields, ...pick(form.submitters) };
    const names = Object.keys(given).filter((name) => name !== '_csrf');
    const fields: [string, string][] = [['_csrf', rand() < 0.03 ? hostile() : token]];
    // Mostly one field or more changes, each with a small chance; sometimes none (so "OK" buttons act too).
    const changed = new Set(rand() < 0.85 ? [pick(names.length ? names : ['extra'])] : []);
    for (const name of names) if (rand() < 0.2) changed.add(name);
    for (const name of names) fields.push([name, changed.has(name) ? hostile() : given[name]!]);
    if (!names.length) fields.push(['extra', hostile()]);
    const roll = rand();
    if (roll < 0.1) fields.push([pick(names.length ? names : ['_csrf']), hostile()]); // a field twice
    else if (roll < 0.15) fields.push([hostile().slice(0, 60), 'x']); // a hostile field name
    if (roll > 0.9) {
      const object = Object.fromEntries(fields.map(([name, value]) => [name, rand() < 0.5 ? value : pick([[value], { value }, 42, null, true])]));
      return { body: JSON.stringify(object), contentType: rand() < 0.8 ? 'application/json' : 'text/plain' };
    }
    // As a browser encodes it (a lone surrogate becomes U+FFFD).
    return { body: new URLSearchParams(fields).toString(), contentType: 'application/x-www-form-urlencoded' };
  }

  function check(label: string, status: number, headers: Headers, text: string): void {
    count(`${label} ${status}`);
    if (status >= 500) fail(`${label}: HTTP ${status}: ${text.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 160)}`);
    for (const [name, value] of headers) {
      if (name.toLowerCase().startsWith('x-fuzz') || value.includes(INJECTED_HEADER) || /[\r\n]/.test(value)) fail(`${label}: injected header ${name}: ${value.slice(0, 80)}`);
    }
    const location = headers.get('location');
    if (location && /fz[0-9a-z]+z|evil/.test(location)) fail(`${label}: a redirect the request chose: ${location.slice(0, 80)}`);
    const unescaped = UNESCAPED.exec(text);
    if (unescaped) fail(`${label}: payload echoed unescaped: ${JSON.stringify(text.slice(Math.max(0, unescaped.index - 40), unescaped.index + 40))}`);
  }

  async function postForm(): Promise<void> {
    const anonymous = rand() < 0.05;
    const form = anonymous ? login : pick(forms);
    const client = anonymous ? stranger : admin;
    const { body, contentType } = formBody(form, anonymous ? strangerCsrf : csrf);
    const label = `POST ${form.action.replace(/\/\d+(?=\/|$)/g, '/:id')}`;
    let response: Response;
    try {
      response = await fetch(new URL(form.action, options.panelUrl), { method: 'POST', redirect: 'manual', body, headers: { cookie: client.cookieHeader(), 'content-type': contentType, accept: 'text/html' } });
    } catch (err) {
      count(`${label} no answer`);
      fail(`${label}: no answer (${(err as Error).message})`);
      return;
    }
    const text = await response.text();
    check(label, response.status, response.headers, text);
    if (response.status === 200 && !anonymous) learnButtons(text, form.page);
    if (!anonymous && response.status === 302 && response.headers.get('location') === '/login') {
      fail(`${label}: the admin was logged out`);
      await admin.login(options.adminPassword).catch(() => undefined);
      csrf = csrfTokenOf((await admin.get('/')).html);
    }
  }

  /** A confirmation page (Get Token, Delete, Regenerate: "OK") is found only by posting: its buttons join the form's. */
  function learnButtons(html: string, page: string): void {
    for (const found of formsOf(html, page)) {
      const known = forms.find((form) => form.action === found.action);
      for (const submitter of found.submitters) {
        if (known && !known.submitters.some((other) => JSON.stringify(other) === JSON.stringify(submitter))) known.submitters.push(submitter);
      }
    }
  }

  /** Now and then the pages themselves: a value saved by an earlier post must show escaped. */
  async function revisit(): Promise<void> {
    const page = await admin.get(pick(forms).page);
    check(`GET ${page.url.replace(/\/\d+(?=\/|$)/g, '/:id')}`, page.status, page.headers, page.html);
  }

  const pdf = makePdf(1, 'fuzz').toString('base64');
  function bridgeRequest(): { method: 'GET' | 'POST'; path: string; body?: string } {
    const value = () => pick<unknown>([hostile(), hostile(), 42, -1, 1e308, null, true, [], {}, [hostile()], { a: hostile() }, ['fuzz@example.com'], pdf]);
    const roll = rand();
    if (roll < 0.05) return { method: 'GET', path: '/status' };
    if (roll < 0.08) return { method: 'POST', path: '/pop/check', body: rand() < 0.5 ? '' : hostile() };
    if (roll < 0.35) {
      const detail = rand() < 0.1 ? 'd'.repeat(17 * 1024) : value();
      return { method: 'POST', path: '/events', body: JSON.stringify({ kind: rand() < 0.6 ? pick(['toner_low', 'paper_jam', 'service_call', 'cleared']) : value(), detail }) };
    }
    if (roll < 0.45) return { method: 'POST', path: pick(['/scan-to-email', '/events']), body: pick(['', '{', '{"to": [', 'null', '[]', '"x"', '[['.repeat(5000), `{"to":["fuzz@example.com"],"to":"x","pdfBase64":"${pdf}","pdfBase64":"AAAA"}`, '{"pdfBase64":"' + 'A'.repeat(10) + '\\u0041"}']) };
    if (roll < 0.5) return { method: 'POST', path: pick(['/nothing', '/scan-to-email/../status', '/events?x=1']), body: '{}' };
    const fields: Record<string, unknown> = { to: rand() < 0.5 ? ['fuzz@example.com'] : value(), pdfBase64: rand() < 0.6 ? pdf : value() };
    for (const name of ['subject', 'fileName', 'pages']) if (rand() < 0.5) fields[name] = value();
    return { method: 'POST', path: '/scan-to-email', body: JSON.stringify(fields) };
  }

  function callBridge(socketPath: string): Promise<void> {
    const { method, path, body } = bridgeRequest();
    const label = `bridge ${method} ${path}`;
    return new Promise((resolve) => {
      const request = http.request({ socketPath, method, path, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          count(`${label} ${status}`);
          if (status >= 500) fail(`${label}: HTTP ${status}: ${text.slice(0, 160)}`);
          try {
            JSON.parse(text);
          } catch {
            fail(`${label}: HTTP ${status} without a JSON answer`);
          }
          resolve();
        });
      });
      request.setTimeout(30_000, () => request.destroy(new Error('no answer in 30 s')));
      request.on('error', (err: NodeJS.ErrnoException) => {
        // A refused body may be cut while still being sent; the answer then counts, not the pipe.
        if (err.code === 'EPIPE' || err.code === 'ECONNRESET') count(`${label} closed`);
        else {
          count(`${label} no answer`);
          fail(`${label}: ${err.message}`);
        }
        resolve();
      });
      request.end(body);
    });
  }

  const started = Date.now();
  const bridgeShare = options.firmwareSocket ? (options.bridgeShare ?? 0.25) : 0;
  const next = async (): Promise<void> => {
    while (report.requests < options.posts) {
      const n = ++report.requests;
      if (options.firmwareSocket && rand() < bridgeShare) await callBridge(options.firmwareSocket);
      else await postForm();
      if (n % 50 === 0) await revisit();
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, next));

  // Still there, and still the admin's: the login page answers and the session still works.
  try {
    if ((await new PanelClient(options.panelUrl).get('/login')).status !== 200) fail('the login page no longer answers 200');
    if ((await admin.get('/')).url !== '/') fail('the admin session did not survive the run');
  } catch (err) {
    fail(`the device stopped answering: ${(err as Error).message}`);
  }

  print(`fuzz: ${report.requests} requests in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${seed}), ${forms.length + 1} forms${options.firmwareSocket ? ' and the bridge' : ''}`);
  for (const [key, n] of Object.entries(report.byStatus).sort(([a], [b]) => a.localeCompare(b))) print(`  ${String(n).padStart(5)}  ${key}`);
  print(report.failures.length ? `FAILED (${report.failures.length}):\n${report.failures.map((line) => `  ${line}`).join('\n')}` : 'fuzz: no 5xx, no crash, no unescaped payload, no injected header');
  return report;
}
