/**
 * `npm run bench [-- --short] [-- --fleet N]`: the benchmarks, one after the other, in one process.
 * Figures only, no pass/fail; each is printed with a baseline measured in the same run and the ratio.
 * --short: the mixed run lasts 1 minute instead of 10 and the idle periods are shorter.
 * --fleet N: also start N simulated devices (npm run sim -- start --devices N) and mail across them.
 */
import { deviceFootprintBench } from './device-footprint.bench.js';
import { deviceLifeBench, LIFE_FULL, LIFE_SHORT } from './device-life.bench.js';
import { fleetBench } from './fleet.bench.js';
import { mixedRunBench } from './mixed-run.bench.js';
import { pagesBench } from './pages.bench.js';
import { popCheckBench } from './pop-check.bench.js';
import { scanFootprintBench } from './scan-footprint.bench.js';
import { senderBench } from './sender.bench.js';

const short = process.argv.includes('--short');
const fleetAt = process.argv.indexOf('--fleet');

await deviceFootprintBench();
await deviceLifeBench(short ? LIFE_SHORT : LIFE_FULL);
await pagesBench({ seconds: short ? 3 : 10 });
await scanFootprintBench();
await senderBench();
await popCheckBench();
await mixedRunBench({ durationMs: short ? 60_000 : 600_000 });
if (fleetAt > 0) await fleetBench({ devices: Number(process.argv[fleetAt + 1] ?? 50), scansPerDevice: 10 });
// The labs are closed; nothing else should keep the process alive, but do not hang on a stray handle.
process.exit(0);
