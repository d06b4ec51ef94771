/**
 * Every form of the panel is posted by a browser as application/x-www-form-urlencoded, each field once,
 * as text. Checked here once for every route (the app's preValidation hook and its catch-all body
 * parser), before the CSRF check and any handler: a field sent twice, a JSON body or any other
 * content type is answered 400 with a message, and nothing is changed. So handlers can take their
 * fields as strings.
 */
import type { MessageKey } from '../i18n/index.js';

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

export class FormShapeError extends Error {
  readonly statusCode = 400;
  readonly code = 'MFP_FORM_SHAPE';
  constructor(
    readonly messageKey: MessageKey,
    readonly params: Record<string, string>,
  ) {
    super(messageKey);
  }
}

// eslint-disable-next-line no-control-regex
const shown = (text: string) => text.replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 40);

/** For bodies of any type but a form's: refused without being read. */
export function notAForm(contentType: string | undefined): FormShapeError {
  return new FormShapeError('form.notForm', { type: shown(contentType?.split(';')[0]?.trim() || '?') });
}

/** Undefined when `body` is what a form gives: field names to single strings. */
export function formShapeProblem(body: unknown): FormShapeError | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body !== 'object') return notAForm(undefined);
  for (const [field, value] of Object.entries(body)) {
    if (typeof value === 'string') continue;
    return new FormShapeError(Array.isArray(value) ? 'form.repeated' : 'form.notText', { field: shown(field) });
  }
  return undefined;
}
