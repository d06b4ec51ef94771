/**
 * The panel's Content-Security-Policy, in one place: helmet serves it on every page, and the Get Token
 * confirmation of a browser sign-in widens form-action to the provider's origin — Chromium applies
 * form-action to the redirect that answers the form, so without it the browser never leaves the device.
 */
export const CSP_DIRECTIVES = {
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
