import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The compiled device entry point, as `npm run device` runs it. */
export const DEVICE_MAIN = fileURLToPath(new URL('../server/main.js', import.meta.url));

/**
 * The node flags of `npm run device` (package.json is their one home), so the simulator and the
 * benchmarks run the device exactly as a printer would.
 */
export function deviceNodeFlags(): string[] {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  return (pkg.scripts.device ?? '').split(/\s+/).filter((arg) => arg.startsWith('--'));
}
