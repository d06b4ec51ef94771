import { DEFAULT_LANGUAGE, isLanguage, languages, type Language } from '../i18n/index.js';
import type { FormSpec } from './form.js';
import type { SettingsRepository } from './settings-repository.js';

/** Device-wide preferences the admin sets from the header (not a page of its own): the default language. */
export const devicePreferencesForm: FormSpec = {
  id: 'device-preferences',
  title: 'language.title',
  fields: [
    {
      name: 'language', label: 'language.label', type: 'select', required: true, default: DEFAULT_LANGUAGE,
      choices: languages.map((language) => ({ value: language.code, label: { text: language.name } })),
    },
  ],
};

/** The language the device speaks when nobody chose one: its own mail (alerts, scans) and visitors without a match. */
export function deviceLanguage(settings: SettingsRepository): Language {
  const saved = settings.values(devicePreferencesForm).language;
  return isLanguage(saved) ? saved : DEFAULT_LANGUAGE;
}
