import { en, type MessageKey } from './en.js';

export type { MessageKey };
export type Params = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: Params) => string;

const catalogs: Record<string, Partial<Record<MessageKey, string>>> = { en };

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
