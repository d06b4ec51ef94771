/** Module resolution hooks for record-imports.ts (they run on the loader thread). */
import fs from 'node:fs';

let file: string | undefined;

export function initialize(data: { file?: string }): void {
  file = data.file;
}

type Next = (specifier: string, context: unknown) => Promise<unknown>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<unknown> {
  if (file && !/^(\.|\/|node:|file:|data:)/.test(specifier)) fs.appendFileSync(file, `${specifier}\n`);
  return next(specifier, context);
}
