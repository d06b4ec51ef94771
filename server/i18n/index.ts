import Negotiator from 'negotiator';
import { momentWriter } from './dates.js';
import { en, type MessageKey } from './en.js';
import { ja } from './ja.js';
import { sv } from './sv.js';

export type { MessageKey };
export type Params = Record<string, string | number>;
export type Translate = (key: MessageKey, params?: Params) => string;

/** The panel's languages, each named in itself (as the language picker shows them). English first: the fallback. */
export const languages = [
  { code: 'en', name: 'English' },
  { code: 'ja', name: '日本語' },
  { code: 'sv', name: 'Svenska' },
] as const satisfies readonly { code: string; name: string }[];
export type Language = (typeof languages)[number]['code'];
export const DEFAULT_LANGUAGE: Language = 'en';

const catalogs: Record<Language, Partial<Record<MessageKey, string>>> = { en, ja, sv } satisfies Record<Language, Record<MessageKey, string>>;

export function isLanguage(code: unknown): code is Language {
  return typeof code === 'string' && Object.hasOwn(catalogs, code);
}

const translators = new Map<string, Translate>();

/** Returns a translator for a language, falling back to English for keys a catalog lacks. */
export function translator(lang: string = DEFAULT_LANGUAGE): Translate {
  let translate = translators.get(lang);
  if (!translate) {
    const catalog = isLanguage(lang) ? catalogs[lang] : en;
    translate = (key, params) => {
      const text = catalog[key] ?? en[key] ?? key;
      return params ? text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole)) : text;
    };
    translators.set(lang, translate);
  }
  return translate;
}

export function hasMessage(key: string): key is MessageKey {
  return key in en;
}

/**
 * Everything a page needs to speak one language: its messages and its way of writing a moment
 * (in the device's time zone, named, so "06:07 UTC" is never mistaken for local time).
 */
export interface Locale {
  lang: Language;
  t: Translate;
  /** Date and time, e.g. "2026/12/03 6:07:45 UTC" in Japanese. */
  dateTime(ms: number): string;
  /** Time of day only, for moments within the next minutes or hours. */
  time(ms: number): string;
  /** A day, for certificate validity and the like. */
  date(ms: number): string;
}

const locales = new Map<Language, Locale>();

export function localeFor(lang: Language): Locale {
  let locale = locales.get(lang);
  if (!locale) {
    locale = { lang, t: translator(lang), ...momentWriter(lang) };
    locales.set(lang, locale);
  }
  return locale;
}

/**
 * The language a page is shown in: the one the visitor picked (cookie), else the browser's
 * preference (Accept-Language), else the device's default.
 */
export function pickLanguage(chosen: string | undefined, acceptLanguage: string | undefined, deviceDefault: () => Language): Language {
  if (isLanguage(chosen)) return chosen;
  if (acceptLanguage) {
    const codes = languages.map((language) => language.code);
    // Match on the primary subtag too: "sv-SE" and "ja-JP" are what browsers send.
    const preferred = new Negotiator({ headers: { 'accept-language': acceptLanguage } }).languages();
    for (const tag of preferred) {
      const primary = tag.toLowerCase().split('-')[0];
      const match = codes.find((code) => code === primary);
      if (match) return match;
      if (tag === '*') break;
    }
  }
  return deviceDefault();
}
