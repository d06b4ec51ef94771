/**
 * Microsoft Entra's AADSTS error codes in token errors, as data: each one its own catalog code
 * (`reason.aadsts_<n>` and `.remedy`) with its plain meaning. Microsoft sends them in the error body's
 * `error_codes` and at the start of `error_description` ("AADSTS700082: The refresh token has expired
 * …"); the `error` itself (`invalid_grant`, `invalid_request`…) says far less.
 */
export const AADSTS_CODES = {
  /** The grant was revoked: the password was changed or reset, or an admin revoked the sessions. */
  '50173': 'aadsts_50173',
  /** The refresh token went unused for 90 days. */
  '700082': 'aadsts_700082',
  /** Conditional Access sign-in frequency: the user must sign in again. */
  '70043': 'aadsts_70043',
  /** Nobody consented to the app's permissions (an administrator must, for the tenant). */
  '65001': 'aadsts_65001',
  /** The Client ID is not an app registered in this tenant. */
  '700016': 'aadsts_700016',
  /** The tenant named in the authorization server settings does not exist. */
  '90002': 'aadsts_90002',
} as const;

export type AadstsReasonCode = (typeof AADSTS_CODES)[keyof typeof AADSTS_CODES];
export const AADSTS_REASON_CODES: readonly AadstsReasonCode[] = Object.values(AADSTS_CODES);

/** The known AADSTS code of a token error body, if any. */
export function aadstsReason(body: unknown): AadstsReasonCode | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const { error_codes: codes, error_description: description } = body as { error_codes?: unknown; error_description?: unknown };
  const candidates = [
    ...(Array.isArray(codes) ? codes.map(String) : []),
    ...(typeof description === 'string' ? [...description.matchAll(/\bAADSTS(\d+)/g)].map((m) => m[1]!) : []),
  ];
  for (const candidate of candidates) {
    if (Object.hasOwn(AADSTS_CODES, candidate)) return AADSTS_CODES[candidate as keyof typeof AADSTS_CODES];
  }
  return undefined;
}
