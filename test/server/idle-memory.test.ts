/**
 * The device gives memory back once it goes quiet after work, and leaves a quiet device alone: a
 * collection pauses the panel for tens of milliseconds, so it must not run every few seconds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterSample, collectWhenIdle, type IdleState, type Sample } from '../../server/idle-memory.js';

const MB = 2 ** 20;

function run(samples: Sample[]): boolean[] {
  let state: IdleState = { worked: false, quietSamples: 0, heapAfterLastCollection: 10 * MB };
  return samples.map((sample) => {
    const step = afterSample(state, sample);
    state = step.state;
    return step.collect;
  });
}

const busy = { utilization: 0.4, heapUsed: 14 * MB };
const quiet = { utilization: 0.001, heapUsed: 14 * MB };

test('a burst of work followed by quiet: one collection, after two quiet samples', () => {
  assert.deepEqual(run([busy, busy, quiet, quiet, quiet, quiet, quiet]), [false, false, false, true, false, false, false]);
});

test('a pause inside a burst (one quiet sample) is not the end of it', () => {
  assert.deepEqual(run([busy, quiet, busy, quiet, quiet]), [false, false, false, false, true]);
});

test('a device that stays quiet is never collected', () => {
  assert.deepEqual(run(Array.from({ length: 20 }, () => ({ utilization: 0.005, heapUsed: 10 * MB }))), Array(20).fill(false));
});

test('quiet work that grew the heap (no sample looked busy) is collected too', () => {
  assert.deepEqual(run([{ utilization: 0.01, heapUsed: 12 * MB }, { utilization: 0.01, heapUsed: 12 * MB }, { utilization: 0.01, heapUsed: 12 * MB }]), [false, true, false]);
});

test('each burst gets its own collection', () => {
  assert.deepEqual(run([busy, quiet, quiet, busy, quiet, quiet]), [false, false, true, false, false, true]);
});

test('the watcher collects twice once quiet after work, and does nothing without gc', async () => {
  let collections = 0;
  // The watcher's timers do not keep a process alive (the device's server does): this one does.
  const keepAlive = setTimeout(() => {}, 10_000);
  const done = new Promise<void>((resolve) => {
    const stop = collectWhenIdle({
      gc: () => collections++,
      sampleMs: 20,
      onCollect: () => {
        stop();
        resolve();
      },
    });
    // Work: 60 ms of a busy loop, then quiet.
    const until = Date.now() + 60;
    while (Date.now() < until);
  });
  await done;
  clearTimeout(keepAlive);
  assert.equal(collections, 2);
  assert.doesNotThrow(() => collectWhenIdle({ gc: undefined })());
});
