/**
 * The panel's security headers, in one place. The Content-Security-Policy is sent on every page, and the Get Token
 * confirmation of a browser sign-in widens form-action to the provider's origin — Chromium applies
 * form-action to the redirect that answers the form, so without it the browser never leaves the device.
 */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  objectSrc: ["'none'"],
} as const;

const kebab = (name: string) => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

/** The policy as a header value; `formActionOrigins` are origins (scheme://host[:port]) a form may lead to. */
export function contentSecurityPolicy(formActionOrigins: readonly string[] = []): string {
  const directives: Record<string, readonly string[]> = { ...CSP_DIRECTIVES, formAction: [...CSP_DIRECTIVES.formAction, ...formActionOrigins] };
  return Object.entries(directives).map(([name, values]) => `${kebab(name)} ${values.join(' ')}`).join(';');
}

/**
 * Browser features no page of the panel uses, denied to it and to anything embedded: an injected
 * script could not reach the camera, microphone, location or attached devices.
 */
export const PERMISSIONS_POLICY = [
  'accelerometer', 'autoplay', 'camera', 'display-capture', 'encrypted-media', 'fullscreen', 'geolocation', 'gyroscope', 'hid',
  'idle-detection', 'magnetometer', 'microphone', 'midi', 'payment', 'picture-in-picture', 'publickey-credentials-get',
  'screen-wake-lock', 'serial', 'usb', 'xr-spatial-tracking',
].map((feature) => `${feature}=()`).join(', ');

/**
 * HSTS, sent over HTTPS only while the certificate is not self-signed (the admin installed one a
 * browser trusts): a browser that remembers HSTS refuses a self-signed certificate with no way
 * through, so the panel would lock its admin out. Half a year, not more, in case the admin goes back
 * to a self-signed certificate (Regenerate) and needs the browser to forget.
 */
export const STRICT_TRANSPORT_SECURITY = 'max-age=15552000';

/**
 * The headers every answer carries, built once (helmet's set, as @fastify/helmet sent them, which
 * rebuilt them on every request): the policy above, no referrer, no sniffing, no framing, and the
 * cross-origin isolation helmet defaults to. HSTS is not among them: it depends on the certificate.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': contentSecurityPolicy(),
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
  'permissions-policy': PERMISSIONS_POLICY,
  'cache-control': 'no-store',
});
