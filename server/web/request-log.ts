/**
 * How a request appears in the device log. The URL is the one thing a request line carries that may
 * hold a secret: the provider's redirect to /oauth/callback brings the authorization code (and the
 * state binding it to the admin's session), and a misdirected link may carry a token. Those are
 * replaced by [hidden]; the rest of the line stays as Fastify writes it.
 */
import type { FastifyBaseLogger, FastifyRequest, LogLevel } from 'fastify';

/** The callback's whole query is the provider's answer: none of it belongs in a log. */
const QUERY_HIDDEN = new Set(['/oauth/callback']);
const SECRET_PARAM = /^(code|state|token|access_token|refresh_token|id_token|device_code|client_secret|password|session_state)$/i;
const HIDDEN = '[hidden]';

export function urlForLog(url: string): string {
  const question = url.indexOf('?');
  if (question < 0) return url;
  const path = url.slice(0, question);
  if (QUERY_HIDDEN.has(path)) return `${path}?${HIDDEN}`;
  const query = url
    .slice(question + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        /* a malformed name is kept as it is */
      }
      return SECRET_PARAM.test(decoded) ? `${name}=${HIDDEN}` : pair;
    })
    .join('&');
  return `${path}?${query}`;
}

/** Fastify's request serializer, with the URL as above. */
export function requestForLog(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: urlForLog(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;
type Log = (...args: unknown[]) => void;
/** Fastify's logger is pino's, which also answers this. */
type Parent = FastifyBaseLogger & { isLevelEnabled(level: LogLevel): boolean };

/**
 * Fastify's childLoggerFactory: a request's logger, whose lines carry its reqId, made only when the
 * request writes its first line. pino makes a child by running the bindings through the redaction
 * (4 % of a page's CPU), and at level warn almost no request writes a line.
 */
export function requestLogger(logger: FastifyBaseLogger, bindings: Bindings, options: ChildOptions): FastifyBaseLogger {
  // A route's own level or serializers: made now, as Fastify would.
  if (Object.keys(options).length > 0) return logger.child(bindings, options);
  return new LazyChild(logger as Parent, bindings);
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

class LazyChild implements FastifyBaseLogger {
  declare fatal: Log;
  declare error: Log;
  declare warn: Log;
  declare info: Log;
  declare debug: Log;
  declare trace: Log;

  static {
    for (const level of LEVELS) {
      LazyChild.prototype[level] = function (this: LazyChild, ...args: unknown[]) {
        this.#write(level, args);
      };
    }
  }

  readonly #parent: Parent;
  readonly #bindings: Bindings;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: Parent, bindings: Bindings) {
    this.#parent = parent;
    this.#bindings = bindings;
  }

  get #logger(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings));
  }

  #write(level: (typeof LEVELS)[number], args: unknown[]): void {
    if (this.#child === undefined && !this.#parent.isLevelEnabled(level)) return;
    const logger = this.#logger;
    (logger[level] as Log).apply(logger, args);
  }

  get level(): string {
    return (this.#child ?? this.#parent).level;
  }

  set level(level: string) {
    this.#logger.level = level;
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.#logger.child(bindings, options);
  }
}
