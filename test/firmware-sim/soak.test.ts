/**
 * The short form of `npm run soak`: 200 scan jobs through the firmware bridge, 5 × kill -9 of the
 * device at random moments, restarts on the same data. Fails on any queued mail the lab SMTP server
 * never received; duplicates (at-least-once delivery) are printed, not failed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCrashSoak, runCrashSoak } from '../../firmware-sim/soak/crash-soak.js';

test('crash soak, short form: 200 jobs, 5 × kill -9, nothing queued is lost', { timeout: 240_000 }, async () => {
  const report = await runCrashSoak({ jobs: 200, kills: 5 });
  process.stdout.write(`${formatCrashSoak(report)}\n`);
  assert.equal(report.kills, 5, 'every kill happened');
  assert.equal(report.queued, 200, 'the printer got every job acknowledged');
  assert.deepEqual(report.lostSubjects, [], `no queued mail lost (seed ${report.seed} repeats the run)`);
});
