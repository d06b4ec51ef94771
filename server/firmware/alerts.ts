/**
 * E-mail Alert (System Control › E-mail Alert/Status › E-mail Alert): the page's form spec, the extra
 * check of its recipient list, and the alert mail a device status event turns into.
 */
import type { Locale, Translate } from '../i18n/index.js';
import { validateForm, type FormContext, type FormSpec, type ValidationResult } from '../settings/form.js';
import type { SettingsRepository } from '../settings/settings-repository.js';
import type { DeviceCondition, DeviceEventKind } from './device-status.js';

export const ALERT_PAGE_PATH = '/settings/system/email-alert';
export const MAX_ALERT_RECIPIENTS = 5;

export const alertForm: FormSpec = {
  id: 'alert',
  title: 'alert.title',
  fields: [
    {
      name: 'enabled', label: 'alert.enabled', type: 'select', required: true, default: 'off',
      choices: [{ value: 'on', label: 'alert.on' }, { value: 'off', label: 'alert.off' }],
    },
    // One address per line or comma-separated; checked one by one in validateAlertForm.
    { name: 'recipients', label: 'alert.recipients', type: 'text', help: 'alert.recipientsHelp', maxLength: 1400, requiredWhen: { field: 'enabled', in: ['on'] } },
    {
      name: 'events', label: 'alert.events', type: 'select', required: true, default: 'all',
      choices: [{ value: 'all', label: 'alert.events.all' }, { value: 'serious', label: 'alert.events.serious' }],
    },
  ],
};

const EVENTS_OF: Record<string, readonly DeviceCondition[]> = {
  all: ['toner_low', 'paper_jam', 'service_call'],
  serious: ['paper_jam', 'service_call'],
};

// The same plain rule as the settings forms' e-mail fields.
const EMAIL = /^[^\s@"<>()\\,;:]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;

export function splitAddresses(text: string): string[] {
  return text.split(/[\s,;]+/).filter(Boolean);
}

const EMPTY_CONTEXT: FormContext = { choices: {}, secretsSet: new Set() };

/**
 * Validates the posted page: the spec's rules, then each recipient (at most five, each an address).
 * Line breaks in the list are allowed (one address per line); the list is saved comma-separated.
 */
export function validateAlertForm(body: Record<string, unknown>): ValidationResult {
  const list = typeof body.recipients === 'string' ? body.recipients.replace(/[\r\n]+/g, ', ') : body.recipients;
  const result = validateForm(alertForm, { ...body, recipients: list }, EMPTY_CONTEXT);
  if (result.errors.recipients || typeof result.values.recipients !== 'string') return result;
  const addresses = splitAddresses(result.values.recipients);
  const bad = addresses.find((address) => !EMAIL.test(address));
  const unique = [...new Map(addresses.map((address) => [address.toLowerCase(), address])).values()];
  if (bad !== undefined) result.errors.recipients = { key: 'alert.recipientInvalid', params: { address: bad } };
  else if (unique.length > MAX_ALERT_RECIPIENTS) result.errors.recipients = { key: 'alert.tooManyRecipients', params: { max: MAX_ALERT_RECIPIENTS } };
  else result.values.recipients = unique.join(', ');
  return result;
}

export interface AlertSettings {
  enabled: boolean;
  recipients: string[];
  events: readonly DeviceCondition[];
}

export function alertSettings(settings: SettingsRepository): AlertSettings {
  const values = settings.values(alertForm);
  return {
    enabled: values.enabled === 'on',
    recipients: splitAddresses(String(values.recipients ?? '')),
    events: EVENTS_OF[String(values.events)] ?? EVENTS_OF.all!,
  };
}

/** "MFP-C131 (emulated)" → "MFP-C131": the name a printer puts in its mail. */
export function shortModel(modelName: string): string {
  return modelName.replace(/\s*\([^)]*\)\s*$/, '').trim() || modelName;
}

export function conditionText(kind: DeviceEventKind, t: Translate): string {
  return t(`deviceStatus.kind.${kind}`);
}

/** The alert mail for a condition: "[MFP-C131] Toner low" and a short body. */
export function alertMail(modelName: string, kind: DeviceCondition, detail: string | null, at: number, locale: Locale): { subject: string; text: string } {
  const { t } = locale;
  const model = shortModel(modelName);
  const condition = conditionText(kind, t);
  const time = locale.dateTime(at);
  return {
    subject: t('firmware.alert.subject', { model, condition }),
    text: [t('firmware.alert.body', { model, condition, time }), detail ? t('firmware.alert.detail', { detail }) : null].filter(Boolean).join('\n'),
  };
}
