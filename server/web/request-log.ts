/**
 * How a request appears in the device log. The URL is the one thing a request line carries that may
 * hold a secret: the provider's redirect to /oauth/callback brings the authorization code (and the
 * state binding it to the admin's session), and a misdirected link may carry a token. Those are
 * replaced by [hidden]; the rest of the line stays as Fastify writes it.
 */
import type { FastifyRequest } from 'fastify';

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
