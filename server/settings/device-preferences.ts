import { DEFAULT_LANGUAGE, languages } from '../i18n/index.js';
import type { FormSpec } from './form.js';

/** Device-wide preferences the admin sets from the header (not a page of its own): the default language. */
export const devicePreferencesForm: FormSpec = {
  id: 'device-preferences',
  title: 'language.title',
  breadcrumb: [],
  fields: [
    {
      name: 'language', label: 'language.label', type: 'select', required: true, default: DEFAULT_LANGUAGE,
      choices: languages.map((language) => ({ value: language.code, label: { text: language.name } })),
    },
  ],
};
