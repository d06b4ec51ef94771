/** `npm run bench`: the benchmarks, one after the other, in one process. Figures only, no pass/fail. */
import { deviceFootprintBench } from './device-footprint.bench.js';
import { popCheckBench } from './pop-check.bench.js';
import { scanFootprintBench } from './scan-footprint.bench.js';
import { senderBench } from './sender.bench.js';

await deviceFootprintBench();
await scanFootprintBench();
await senderBench();
await popCheckBench();
// The labs are closed; nothing else should keep the process alive, but do not hang on a stray handle.
process.exit(0);
