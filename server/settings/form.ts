/**
 * A settings form declared once as data (in the spirit of OpenWrt LuCI): the same description drives
 * the page's fields, the server-side validation and what is saved.
 */
import type { MessageKey, Translate } from '../i18n/index.js';

export type FieldType = 'text' | 'host' | 'email' | 'url' | 'integer' | 'select' | 'secret' | 'scope' | 'tenant';

export interface Choice {
  value: string;
  /** A catalog key, or a literal label for choices that come from data (provider names). */
  label: MessageKey | { text: string };
}

export interface FieldSpec {
  name: string;
  label: MessageKey;
  type: FieldType;
  help?: MessageKey;
  unit?: MessageKey;
  required?: boolean;
  min?: number;
  max?: number;
  maxLength?: number;
  default?: string | number;
  /** Fixed choices, or the name of a dynamic list the page supplies (e.g. the registered providers). */
  choices?: readonly Choice[] | { dynamic: string };
  /** Only shown, required and saved when another (itself active) field has one of these values. */
  when?: { field: string; in: readonly string[] };
  /** Required only when another field has one of these values (e.g. a secret some provider types need). */
  requiredWhen?: { field: string; in: readonly string[] };
}

export interface FormSpec {
  id: string;
  title: MessageKey;
  fields: readonly FieldSpec[];
}

export type FormValues = Record<string, string | number>;

export interface FormContext {
  /** Lists for fields with dynamic choices. */
  choices: Record<string, readonly Choice[]>;
  /** Secret fields that already hold a value: blank input keeps it. */
  secretsSet: ReadonlySet<string>;
}

export interface ValidationResult {
  values: FormValues;
  /** Secrets the user typed (only those entered this time). */
  secrets: Record<string, string>;
  errors: Record<string, { key: MessageKey; params?: Record<string, string | number> }>;
}

const HOST = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^\[?[0-9a-f:.]{2,45}\]?$/i;
// Deliberately plain: one @, no spaces, a dotted domain. Servers are the real judges.
const EMAIL = /^[^\s@"<>()\\,;:]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

export function fieldIsActive(field: FieldSpec, values: Record<string, unknown>, spec?: FormSpec): boolean {
  if (!field.when) return true;
  if (!field.when.in.includes(String(values[field.when.field] ?? ''))) return false;
  const controller = spec?.fields.find((other) => other.name === field.when!.field);
  return !controller || controller === field || fieldIsActive(controller, values, spec);
}

export function fieldIsRequired(field: FieldSpec, values: Record<string, unknown>): boolean {
  if (field.requiredWhen) return field.requiredWhen.in.includes(String(values[field.requiredWhen.field] ?? ''));
  return Boolean(field.required);
}

export function choicesOf(field: FieldSpec, context: Pick<FormContext, 'choices'>): readonly Choice[] {
  if (!field.choices) return [];
  return 'dynamic' in field.choices ? (context.choices[field.choices.dynamic] ?? []) : field.choices;
}

export function defaults(spec: FormSpec): FormValues {
  const values: FormValues = {};
  for (const field of spec.fields) if (field.default !== undefined) values[field.name] = field.default;
  return values;
}

/** Validates a posted form against its spec. Nothing is saved unless `errors` is empty. */
export function validateForm(spec: FormSpec, body: Record<string, unknown>, context: FormContext): ValidationResult {
  const raw: Record<string, string> = {};
  for (const field of spec.fields) {
    const value = body[field.name];
    // A browser posts every field of the form; a field left out entirely (a script, an older form) takes its default.
    raw[field.name] = typeof value === 'string' ? value.trim() : value === undefined && field.default !== undefined ? String(field.default) : '';
  }
  const result: ValidationResult = { values: {}, secrets: {}, errors: {} };
  for (const field of spec.fields) {
    if (!fieldIsActive(field, raw, spec)) continue;
    const input = raw[field.name]!;
    const required = fieldIsRequired(field, raw);
    const fail = (key: MessageKey, params?: Record<string, string | number>) => {
      result.errors[field.name] = params ? { key, params } : { key };
    };
    if (field.type === 'secret') {
      if (input === '') {
        if (required && !context.secretsSet.has(field.name)) fail('common.required');
      } else if (field.maxLength && input.length > field.maxLength) fail('validate.tooLong', { max: field.maxLength });
      else if (CONTROL.test(input)) fail('validate.controlChars');
      else result.secrets[field.name] = input;
      continue;
    }
    if (input === '') {
      if (required) fail('common.required');
      else result.values[field.name] = field.type === 'integer' ? (field.default ?? '') : '';
      continue;
    }
    const maxLength = field.maxLength ?? 255;
    if (input.length > maxLength) {
      fail('validate.tooLong', { max: maxLength });
      continue;
    }
    if (CONTROL.test(input)) {
      fail('validate.controlChars');
      continue;
    }
    switch (field.type) {
      case 'integer': {
        if (!/^-?\d+$/.test(input)) fail('validate.integer');
        else {
          const n = Number(input);
          if ((field.min !== undefined && n < field.min) || (field.max !== undefined && n > field.max)) {
            fail('validate.range', { min: field.min ?? '', max: field.max ?? '' });
          } else result.values[field.name] = n;
        }
        break;
      }
      case 'host':
        if (HOST.test(input) || IPV4.test(input) || (input.includes(':') && IPV6.test(input))) result.values[field.name] = input.toLowerCase();
        else fail('validate.host');
        break;
      case 'email':
        if (EMAIL.test(input)) result.values[field.name] = input;
        else fail('validate.email');
        break;
      case 'url': {
        let url: URL | undefined;
        try {
          url = new URL(input);
        } catch {
          /* reported below */
        }
        if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) fail('validate.url');
        else if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) fail('validate.httpsOnly');
        else result.values[field.name] = input.replace(/\/+$/, '');
        break;
      }
      case 'select':
        if (choicesOf(field, context).some((choice) => choice.value === input)) result.values[field.name] = input;
        else fail('validate.choice');
        break;
      case 'scope':
        if (SCOPE.test(input.replace(/\s+/g, ' '))) result.values[field.name] = input.replace(/\s+/g, ' ');
        else fail('validate.scope');
        break;
      case 'tenant':
        // A directory (tenant) ID, a verified domain, or Microsoft's multi-tenant aliases.
        if (GUID.test(input) || HOST.test(input) || input === 'organizations' || input === 'common') result.values[field.name] = input.toLowerCase();
        else fail('validate.tenant');
        break;
      case 'text':
        result.values[field.name] = input;
        break;
    }
  }
  return result;
}

/** Error messages of a validation, translated, keyed by field name. */
export function translateErrors(errors: ValidationResult['errors'], t: Translate): Record<string, string> {
  return Object.fromEntries(Object.entries(errors).map(([name, error]) => [name, t(error.key, error.params)]));
}
