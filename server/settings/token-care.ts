/**
 * Token Renewal and Notifications (System Control): how long each provider type keeps an unused
 * refresh token (the renewal schedule renews well before), and who is told when a token turns
 * Invalid or will soon need a new sign-in: the E-mail Alert recipients by mail (through the SMTP
 * page's account, or an SMTP-AUTH fallback server), and a syslog server.
 */
import { DEFAULT_INACTIVITY_LIMITS, type InactivityLimits } from '../oauth/provider-profiles.js';
import type { FormSpec, ValidationResult } from './form.js';
import type { SettingsRepository } from './settings-repository.js';

export const TOKEN_CARE_PAGE_PATH = '/settings/system/token-care';

const ON = ['on'];
const SYSLOG = ['udp', 'tcp'];
const days = (name: keyof InactivityLimits, label: 'tokenCare.microsoftDays' | 'tokenCare.googleDays' | 'tokenCare.customDays') =>
  ({ name, label, type: 'integer', unit: 'common.days', required: true, min: 2, max: 3650, default: DEFAULT_INACTIVITY_LIMITS[name] }) as const;

export const tokenCareForm: FormSpec = {
  id: 'token-care',
  title: 'tokenCare.title',
  fields: [
    { ...days('microsoftDays', 'tokenCare.microsoftDays'), help: 'tokenCare.daysHelp' },
    days('googleDays', 'tokenCare.googleDays'),
    days('customDays', 'tokenCare.customDays'),
    {
      name: 'notifyEmail', label: 'tokenCare.notifyEmail', type: 'select', required: true, default: 'off', help: 'tokenCare.notifyEmailHelp',
      choices: [{ value: 'on', label: 'alert.on' }, { value: 'off', label: 'alert.off' }],
    },
    { name: 'fallbackServer', label: 'tokenCare.fallbackServer', type: 'host', help: 'tokenCare.fallbackServerHelp', when: { field: 'notifyEmail', in: ON } },
    { name: 'fallbackPort', label: 'smtp.port', type: 'integer', required: true, min: 1, max: 65535, default: 587, when: { field: 'notifyEmail', in: ON } },
    {
      name: 'fallbackSsl', label: 'smtp.ssl', type: 'select', required: true, default: 'starttls', when: { field: 'notifyEmail', in: ON },
      choices: [{ value: 'none', label: 'ssl.none' }, { value: 'starttls', label: 'ssl.starttls' }, { value: 'tls', label: 'ssl.tls' }],
    },
    { name: 'fallbackUser', label: 'smtp.authUser', type: 'text', maxLength: 128, when: { field: 'notifyEmail', in: ON } },
    { name: 'fallbackPassword', label: 'smtp.authPassword', type: 'secret', maxLength: 128, when: { field: 'notifyEmail', in: ON } },
    { name: 'fallbackSender', label: 'smtp.senderAddress', type: 'email', when: { field: 'notifyEmail', in: ON } },
    {
      name: 'syslog', label: 'tokenCare.syslog', type: 'select', required: true, default: 'off', help: 'tokenCare.syslogHelp',
      choices: [{ value: 'off', label: 'alert.off' }, { value: 'udp', label: 'tokenCare.syslog.udp' }, { value: 'tcp', label: 'tokenCare.syslog.tcp' }],
    },
    { name: 'syslogHost', label: 'tokenCare.syslogHost', type: 'host', required: true, when: { field: 'syslog', in: SYSLOG } },
    { name: 'syslogPort', label: 'tokenCare.syslogPort', type: 'integer', required: true, min: 1, max: 65535, default: 514, when: { field: 'syslog', in: SYSLOG } },
  ],
};

/** The fallback server needs all of it or nothing: a server without a sender or sign-in would only fail later. */
export function checkFallback(result: ValidationResult, passwordSaved: boolean): ValidationResult {
  const { values } = result;
  if (values.notifyEmail !== 'on' || !values.fallbackServer) return result;
  for (const name of ['fallbackUser', 'fallbackSender'] as const) {
    if (!values[name] && !result.errors[name]) result.errors[name] = { key: 'tokenCare.fallbackIncomplete' };
  }
  if (!result.secrets.fallbackPassword && !passwordSaved && !result.errors.fallbackPassword) result.errors.fallbackPassword = { key: 'tokenCare.fallbackIncomplete' };
  return result;
}

export interface FallbackServer {
  host: string;
  port: number;
  ssl: 'none' | 'starttls' | 'tls';
  user: string;
  password: string;
  sender: string;
}

export interface TokenCareSettings {
  limits: InactivityLimits;
  notifyEmail: boolean;
  fallback: FallbackServer | null;
  syslog: { transport: 'udp' | 'tcp'; host: string; port: number } | null;
}

export function tokenCareSettings(settings: SettingsRepository): TokenCareSettings {
  const values = settings.values(tokenCareForm);
  const number = (name: keyof InactivityLimits) => Number(values[name]) || DEFAULT_INACTIVITY_LIMITS[name];
  const password = settings.secret(tokenCareForm, 'fallbackPassword');
  const notifyEmail = values.notifyEmail === 'on';
  return {
    limits: { microsoftDays: number('microsoftDays'), googleDays: number('googleDays'), customDays: number('customDays') },
    notifyEmail,
    fallback: notifyEmail && values.fallbackServer && password
      ? {
          host: String(values.fallbackServer),
          port: Number(values.fallbackPort) || 587,
          ssl: (['none', 'starttls', 'tls'].includes(String(values.fallbackSsl)) ? values.fallbackSsl : 'starttls') as FallbackServer['ssl'],
          user: String(values.fallbackUser ?? ''),
          password,
          sender: String(values.fallbackSender ?? ''),
        }
      : null,
    syslog: values.syslog === 'udp' || values.syslog === 'tcp'
      ? { transport: values.syslog, host: String(values.syslogHost ?? ''), port: Number(values.syslogPort) || 514 }
      : null,
  };
}
