/**
 * `npm run soak`: the standing proof that nothing queued is lost (issue 10).
 *   npm run soak -- --jobs 2000 --kills 20 [--seed 12345] [--concurrency 2]
 * Prints queued / delivered / lost / duplicated; exits 1 when any queued mail was lost.
 */
import { parseArgs } from 'node:util';
import { formatCrashSoak, runCrashSoak } from './crash-soak.js';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '200' },
    kills: { type: 'string', default: '5' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    quiet: { type: 'boolean', default: false },
  },
});
const count = (name: string, raw: string | undefined, min: number): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} must be a whole number of at least ${min}, not "${raw}"\n`);
    process.exit(2);
  }
  return n;
};

const report = await runCrashSoak({
  jobs: count('jobs', values.jobs, 1),
  kills: count('kills', values.kills, 0),
  concurrency: count('concurrency', values.concurrency, 1),
  ...(values.seed !== undefined ? { seed: count('seed', values.seed, 0) } : {}),
  log: values.quiet ? () => {} : (line) => process.stdout.write(`${line}\n`),
});
process.stdout.write(`${formatCrashSoak(report)}\n`);

// ---- the fuzz half of the soak (issue 10, "Input and sessions"): firmware-sim/soak/fuzz.ts exports
// runFuzz (another engineer's module). The lead wires it in here, e.g.
//   const fuzz = await runFuzz({ posts: 1_000 }); process.stdout.write(formatFuzz(fuzz));
// and ORs its failure into the exit code below.

process.exit(report.lost > 0 ? 1 : 0);
