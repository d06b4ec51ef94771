import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The compiled device entry point, as `npm run device` runs it. */
export const DEVICE_MAIN = fileURLToPath(new URL('../server/main.js', import.meta.url));

function deviceScript(): string[] {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
  return (pkg.scripts.device ?? '').split(/\s+/).filter(Boolean);
}

/**
 * The node flags of `npm run device` (package.json is their one home), so the simulator and the
 * benchmarks run the device exactly as a printer would.
 */
export function deviceNodeFlags(): string[] {
  return deviceScript().filter((arg) => arg.startsWith('--'));
}

/** The environment `npm run device` sets before node (the NAME=value words in front of it). */
export function deviceEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const word of deviceScript()) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(word);
    if (!match) break;
    env[match[1]!] = match[2]!;
  }
  return env;
}
