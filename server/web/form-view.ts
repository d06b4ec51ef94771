import { choicesOf, fieldIsActive, fieldIsRequired, type FormContext, type FormSpec } from '../settings/form.js';
import type { Translate } from '../i18n/index.js';

export interface FieldView {
  name: string;
  label: string;
  input: 'text' | 'email' | 'url' | 'number' | 'select' | 'password';
  value: string;
  error: string | undefined;
  help: string | undefined;
  unit: string | undefined;
  required: boolean;
  hidden: boolean;
  min: number | undefined;
  max: number | undefined;
  maxLength: number | undefined;
  choices: { value: string; label: string; selected: boolean }[];
  when: { field: string; values: string } | undefined;
  secretSet: boolean;
}

const INPUT = { text: 'text', host: 'text', tenant: 'text', scope: 'text', email: 'email', url: 'url', integer: 'number', select: 'select', secret: 'password' } as const;

/** Everything the form partial needs to draw a spec's fields, in the spec's order. */
export function fieldViews(spec: FormSpec, values: Record<string, unknown>, errors: Record<string, string>, context: FormContext, t: Translate): FieldView[] {
  return spec.fields.map((field) => {
    const value = field.type === 'secret' ? '' : String(values[field.name] ?? '');
    return {
      name: field.name,
      label: t(field.label),
      input: INPUT[field.type],
      value,
      error: errors[field.name],
      help: field.help ? t(field.help) : undefined,
      unit: field.unit ? t(field.unit) : undefined,
      required: fieldIsRequired(field, values) && !(field.type === 'secret' && context.secretsSet.has(field.name)),
      hidden: !fieldIsActive(field, values, spec),
      min: field.min,
      max: field.max,
      maxLength: field.maxLength,
      choices: choicesOf(field, context).map((choice) => ({
        value: choice.value,
        label: typeof choice.label === 'string' ? t(choice.label) : choice.label.text,
        selected: choice.value === value,
      })),
      when: field.when ? { field: field.when.field, values: field.when.in.join(' ') } : undefined,
      secretSet: context.secretsSet.has(field.name),
    };
  });
}
