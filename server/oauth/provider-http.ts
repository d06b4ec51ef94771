/**
 * The device's HTTP client for OAuth providers: openid-client's `customFetch` over node:http/https.
 *
 * Why not the global fetch: on Node 20 the first touch of `fetch`, `Headers` or `Response` loads
 * undici, about 10 MB of RSS that never goes back (4 MB heap, 6 MB of the node binary's pages), which
 * alone takes the device over its 64 MB budget after the first Get Token. A provider answers a few
 * small JSON documents; buffering them whole is all the device needs.
 *
 * openid-client (oauth4webapi) also names the `Headers` and `Response` globals itself (it builds
 * request headers and checks what the fetch returned). `installFetchGlobals()` — called by the
 * device's entry point only, before anything touched them — puts the small classes below in their
 * place, so undici is never loaded on the printer. In other processes (tests, the simulator) the
 * real globals stay and the classes below pass openid-client's checks by their toStringTag.
 */
import http from 'node:http';
import https from 'node:https';

/** A provider's answer is a small JSON document; anything bigger is refused rather than buffered. */
const MAX_BODY_BYTES = 1024 * 1024;

type HeadersInput = Record<string, string> | Iterable<readonly [string, string]> | { forEach(fn: (value: string, name: string) => void): void } | undefined;

/** The part of WHATWG Headers that openid-client and this module use: case-insensitive, ordered. */
export class ProviderHeaders {
  readonly #map = new Map<string, string>();

  constructor(init?: HeadersInput) {
    if (!init) return;
    if (typeof (init as { forEach?: unknown }).forEach === 'function' && !Array.isArray(init)) {
      (init as { forEach(fn: (value: string, name: string) => void): void }).forEach((value, name) => this.append(name, value));
    } else if (Symbol.iterator in (init as object)) {
      for (const [name, value] of init as Iterable<readonly [string, string]>) this.append(name, value);
    } else {
      for (const [name, value] of Object.entries(init as Record<string, string>)) this.append(name, value);
    }
  }

  get [Symbol.toStringTag](): string {
    return 'Headers';
  }

  append(name: string, value: string): void {
    const key = name.toLowerCase();
    const previous = this.#map.get(key);
    this.#map.set(key, previous === undefined ? String(value) : `${previous}, ${value}`);
  }

  set(name: string, value: string): void {
    this.#map.set(name.toLowerCase(), String(value));
  }

  get(name: string): string | null {
    return this.#map.get(name.toLowerCase()) ?? null;
  }

  has(name: string): boolean {
    return this.#map.has(name.toLowerCase());
  }

  delete(name: string): void {
    this.#map.delete(name.toLowerCase());
  }

  getSetCookie(): string[] {
    const value = this.#map.get('set-cookie');
    return value === undefined ? [] : [value];
  }

  forEach(fn: (value: string, name: string, headers: this) => void): void {
    for (const [name, value] of this.entries()) fn(value, name, this);
  }

  *entries(): IterableIterator<[string, string]> {
    yield* [...this.#map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.entries()) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

interface ResponseInit {
  status?: number;
  statusText?: string;
  headers?: HeadersInput;
}

/** A WHATWG Response with its body already read (what openid-client reads: status, headers, json, text). */
export class ProviderResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ProviderHeaders;
  readonly url: string = '';
  readonly redirected = false;
  readonly type = 'basic';
  /** The body is held as bytes, not as a stream: nothing to cancel. */
  readonly body = null;
  readonly #bytes: Buffer;
  #used = false;

  constructor(body?: string | Uint8Array | null, init: ResponseInit = {}) {
    this.#bytes = body == null ? Buffer.alloc(0) : Buffer.from(body);
    this.status = init.status ?? 200;
    this.statusText = init.statusText ?? '';
    this.headers = new ProviderHeaders(init.headers);
  }

  get [Symbol.toStringTag](): string {
    return 'Response';
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  #consume(): Buffer {
    if (this.#used) throw new TypeError('Body has already been consumed.');
    this.#used = true;
    return this.#bytes;
  }

  async text(): Promise<string> {
    return this.#consume().toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.#consume().toString('utf8'));
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.#consume();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  clone(): ProviderResponse {
    if (this.#used) throw new TypeError('Response body is already used');
    return new ProviderResponse(this.#bytes, { status: this.status, statusText: this.statusText, headers: this.headers });
  }
}

export interface ProviderRequestInit {
  method?: string;
  headers?: HeadersInput;
  body?: string | URLSearchParams | Uint8Array | null;
  signal?: AbortSignal | null;
  /** Always 'manual' from openid-client: redirects are answered, never followed. */
  redirect?: string;
}

/**
 * fetch() as openid-client calls it, over node:http/https. Errors look like fetch's: a network failure
 * is a TypeError 'fetch failed' with the socket error as its cause; an abort rejects with the signal's
 * reason (TimeoutError for openid-client's time-out).
 */
export function providerFetch(url: string, init: ProviderRequestInit = {}): Promise<ProviderResponse> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
  if (!transport) return Promise.reject(new TypeError(`fetch failed: unsupported protocol ${target.protocol}`));
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const headers = new ProviderHeaders(init.headers);
  const body = init.body == null ? undefined : init.body instanceof Uint8Array ? Buffer.from(init.body) : Buffer.from(String(init.body));
  if (init.body instanceof URLSearchParams && !headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
  if (body) headers.set('content-length', String(body.length));
  return new Promise((resolve, reject) => {
    const request = transport.request(target, { method: init.method ?? 'GET', headers: Object.fromEntries(headers.entries()) });
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      request.destroy();
      reject(err);
    };
    const onAbort = () => fail(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (err) => fail(new TypeError('fetch failed', { cause: err })));
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) fail(new TypeError('fetch failed', { cause: new Error(`the answer exceeds ${MAX_BODY_BYTES} bytes`) }));
        else chunks.push(chunk);
      });
      response.on('error', (err) => fail(new TypeError('fetch failed', { cause: err })));
      response.on('end', () => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        const answer = new ProviderResponse(Buffer.concat(chunks), { status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', headers: headerPairs(response.rawHeaders) });
        Object.defineProperty(answer, 'url', { value: target.href });
        resolve(answer);
      });
    });
    request.end(body);
  });
}

function headerPairs(raw: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

/**
 * Puts ProviderHeaders/ProviderResponse in the place of the global Headers/Response while they are
 * still Node's lazy, not yet loaded ones (a property with a getter), so that openid-client never makes
 * Node load undici. Does nothing once something loaded them. For the device's own process only.
 */
export function installFetchGlobals(): void {
  for (const [name, value] of [['Headers', ProviderHeaders], ['Response', ProviderResponse]] as const) {
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, name);
    if (descriptor && typeof descriptor.get === 'function') {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
    }
  }
}
