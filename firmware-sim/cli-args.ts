/**
 * The simulator CLI's command line: its options, the command, the data directory.
 * Imports node's own modules only: scripts/launch.js loads the compiled file before it rebuilds dist/
 * (to find a running simulator first), so it must not pull in the rest of the simulator.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

export const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  devices: { type: 'string' },
  shape: { type: 'string' },
  'auto-approve': { type: 'boolean' },
  'minute-ms': { type: 'string' },
  'data-dir': { type: 'string' },
  to: { type: 'string' },
  device: { type: 'string' },
  pages: { type: 'string' },
  subject: { type: 'string' },
  detail: { type: 'string' },
  count: { type: 'string' },
  on: { type: 'string' },
  ms: { type: 'string' },
  account: { type: 'string' },
  all: { type: 'boolean' },
  list: { type: 'boolean' },
  verbose: { type: 'boolean' },
} as const;

export type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export interface CommandLine {
  values: Values;
  command: string | undefined;
  rest: string[];
}

export function parseCommandLine(argv: string[]): CommandLine {
  try {
    const parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    const [command, ...rest] = parsed.positionals;
    return { values: parsed.values as Values, command, rest };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** The first device's data directory, which also holds the simulator's own files. */
export function dataDirOf(values: Values, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(values['data-dir'] || env.MFP_DATA_DIR || './data');
}
