import type { FormSpec } from './form.js';
import type { SettingsRepository } from './settings-repository.js';

/** System Settings › Security Settings › SSL/TLS: whether plain HTTP serves the panel or redirects. */
export const httpsForm: FormSpec = {
  id: 'https',
  title: 'tls.title',
  fields: [
    {
      name: 'httpPolicy', label: 'tls.httpPolicy', type: 'select', required: true, default: 'redirect', help: 'tls.httpPolicyHelp',
      choices: [{ value: 'redirect', label: 'tls.httpPolicy.redirect' }, { value: 'allow', label: 'tls.httpPolicy.allow' }],
    },
  ],
};

export function httpAllowed(settings: SettingsRepository): boolean {
  return settings.values(httpsForm).httpPolicy === 'allow';
}

/** At first boot only: the environment may allow HTTP (labs, tests); afterwards the admin decides. */
export function seedHttpPolicy(settings: SettingsRepository, allow: boolean): void {
  if (!settings.isSaved(httpsForm)) settings.save(httpsForm, { httpPolicy: allow ? 'allow' : 'redirect' }, {});
}
