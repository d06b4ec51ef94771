import { en, type MessageKey } from './en.js';
import { ja } from './ja.js';
import { sv } from './sv.js';

export type { MessageKey };
export type Params = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: Params) => string;

/** The languages the panel speaks, each named in itself (for the language picker). English first: the fallback. */
export const languages = [
  { code: 'en', name: 'English' },
  { code: 'ja', name: '日本語' },
  { code: 'sv', name: 'Svenska' },
] as const;
export type LanguageCode = (typeof languages)[number]['code'];

const catalogs: Record<string, Partial<Record<MessageKey, string>>> = { en, ja, sv } satisfies Record<LanguageCode, Record<MessageKey, string>>;

/** Returns a translator for a language, falling back to English for keys a catalog lacks. */
export function translator(lang = 'en'): Translate {
  const catalog = catalogs[lang] ?? en;
  return (key, params) => {
    const text = catalog[key] ?? en[key] ?? key;
    return params ? text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole)) : text;
  };
}

export function hasMessage(key: string): key is MessageKey {
  return key in en;
}
