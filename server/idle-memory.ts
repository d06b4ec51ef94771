/**
 * Gives memory back once the device goes quiet after work. V8 keeps the heap it grew to during a
 * burst (pages, a scan, a mail) for a long while, and on a printer that is RSS over its budget at
 * idle: two full collections once the device has been quiet for a few seconds return about 2 MB
 * (measured after a mixed run, see bench/mixed-run.bench.ts). Only where V8's `gc` is exposed
 * (`npm run device` passes --expose-gc); elsewhere this does nothing.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import v8 from 'node:v8';

/** How often the device looks at whether it is busy. */
const SAMPLE_MS = 5_000;
/** Event loop busy for less than this share of a sample: quiet. */
const QUIET_UTILIZATION = 0.02;
/** Quiet samples in a row before collecting: the end of a burst, not a pause within it. */
const QUIET_SAMPLES = 2;
/** Heap growth since the last collection that counts as work even if no sample looked busy. */
const GROWTH_BYTES = 512 * 1024;
/** The second collection, a second later: measured after a mixed run, the first gave back 0.2 MB and the second 1.8 MB. */
const SECOND_AFTER_MS = 1_000;

export interface IdleState {
  /** Work happened since the last collection. */
  worked: boolean;
  quietSamples: number;
  heapAfterLastCollection: number;
}

export interface Sample {
  /** Share of the sample the event loop was busy (0..1). */
  utilization: number;
  heapUsed: number;
}

/** Pure: the state after a sample, and whether to collect now. */
export function afterSample(state: IdleState, sample: Sample): { state: IdleState; collect: boolean } {
  const quiet = sample.utilization < QUIET_UTILIZATION;
  const worked = state.worked || !quiet || sample.heapUsed - state.heapAfterLastCollection >= GROWTH_BYTES;
  const quietSamples = quiet ? state.quietSamples + 1 : 0;
  if (worked && quietSamples >= QUIET_SAMPLES) return { state: { worked: false, quietSamples, heapAfterLastCollection: sample.heapUsed }, collect: true };
  return { state: { ...state, worked, quietSamples }, collect: false };
}

/** Starts watching; returns a stop function. `gc` defaults to V8's exposed one; without it, nothing runs. */
export function collectWhenIdle(options: { gc?: () => void; sampleMs?: number; onCollect?: (before: number, after: number) => void } = {}): () => void {
  const gc = options.gc ?? (globalThis as { gc?: () => void }).gc;
  if (!gc) return () => {};
  let state: IdleState = { worked: false, quietSamples: 0, heapAfterLastCollection: v8.getHeapStatistics().used_heap_size };
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let second: NodeJS.Timeout | undefined;
  const timer = setInterval(() => {
    if (second) return; // a collection is under way
    const now = performance.eventLoopUtilization();
    const window = performance.eventLoopUtilization(now, last);
    last = now;
    const before = v8.getHeapStatistics().used_heap_size;
    const step = afterSample(state, { utilization: window.utilization, heapUsed: before });
    state = step.state;
    if (!step.collect) return;
    gc();
    second = setTimeout(() => {
      second = undefined;
      gc();
      const after = v8.getHeapStatistics().used_heap_size;
      state = { ...state, heapAfterLastCollection: after };
      options.onCollect?.(before, after);
      // The collections themselves kept the loop busy: that is not work to collect after.
      last = performance.eventLoopUtilization();
    }, SECOND_AFTER_MS).unref();
  }, options.sampleMs ?? SAMPLE_MS).unref();
  return () => {
    clearInterval(timer);
    clearTimeout(second);
  };
}
