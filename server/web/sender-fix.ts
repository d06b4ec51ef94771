import { WRONG_SENDER_CODE } from '../mail/smtp-diagnosis.js';
import type { Services } from '../services.js';
import { smtpForm } from '../settings/pages.js';

/**
 * 5.7.60: the server refused the Sender Address because the signed-in mailbox may not send as it.
 * The one fix a device can make itself is to send as the account the token belongs to; the pages
 * offer it as a button when that is what would change.
 */
export function senderFixAccount(services: Services): string | undefined {
  const values = services.settings.values(smtpForm);
  if (!services.accounts.keyFor('smtp')) return undefined;
  const account = String(values.account ?? '');
  return account && account.toLowerCase() !== String(values.senderAddress ?? '').toLowerCase() ? account : undefined;
}

/** The account to offer as Sender Address after a failure with this reason code, if any. */
export function senderFixOffer(services: Services, code: string | undefined): { account: string } | null {
  if (code !== WRONG_SENDER_CODE) return null;
  const account = senderFixAccount(services);
  return account ? { account } : null;
}
