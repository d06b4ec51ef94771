// The scenario catalog: one file per scenario under ./catalog, listed here in the order they run.
import type { Scenario } from './framework.js';
import { firstSetup } from './catalog/first-setup.js';
import { passwordReset } from './catalog/password-reset.js';
import { tokenExpiry } from './catalog/token-expiry.js';
import { consentDenied } from './catalog/consent-denied.js';
import { deviceCodeTimeout } from './catalog/device-code-timeout.js';
import { smtpAuthDisabled } from './catalog/smtp-auth-disabled.js';
import { badXoauth2 } from './catalog/bad-xoauth2.js';
import { providerOutage } from './catalog/provider-outage.js';
import { largeRecipientList } from './catalog/large-recipient-list.js';
import { manyPrinters } from './catalog/many-printers.js';
import { popFaults } from './catalog/pop-faults.js';
import { alertEvents } from './catalog/alert-events.js';
import { microsoft365 } from './catalog/microsoft-365.js';
import { smtpTransient } from './catalog/smtp-transient.js';
import { smtp5739Causes } from './catalog/smtp-5-7-139-causes.js';
import { wrongSender } from './catalog/wrong-sender.js';
import { imapCheck } from './catalog/imap-check.js';
import { idle90Days } from './catalog/idle-90-days.js';
import { googleTestingExpiry } from './catalog/google-testing-expiry.js';
import { conditionalAccess } from './catalog/conditional-access.js';
import { clockSkew } from './catalog/clock-skew.js';
import { caeChallenge } from './catalog/cae-challenge.js';

export const SCENARIOS: Scenario[] = [
  firstSetup,
  passwordReset,
  tokenExpiry,
  consentDenied,
  deviceCodeTimeout,
  smtpAuthDisabled,
  badXoauth2,
  providerOutage,
  largeRecipientList,
  manyPrinters,
  popFaults,
  alertEvents,
  microsoft365,
  smtpTransient,
  smtp5739Causes,
  wrongSender,
  imapCheck,
  idle90Days,
  googleTestingExpiry,
  conditionalAccess,
  clockSkew,
  caeChallenge,
];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

export { runScenario, type Scenario, type ScenarioResult } from './framework.js';
