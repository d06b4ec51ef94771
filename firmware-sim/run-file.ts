/**
 * The running simulator's run file, <data dir>/sim.json. `start` creates it before it starts any
 * server (so a second start is refused before it binds a port) and removes it when it stops; the
 * other commands read it to reach the running simulator. A file left behind by a simulator that was
 * killed (kill -9) names a process that is gone, and the next start takes it over.
 * Imports node's own modules only (see cli-args.ts: scripts/launch.js loads it before a rebuild).
 */
import fs from 'node:fs';
import path from 'node:path';

export interface RunState {
  pid: number;
  /** when the process started (Linux clock ticks since boot): tells it from a later process that got the same pid */
  processStart?: string;
  /** false while the servers start, true once the banner is out */
  ready: boolean;
  controlUrl: string;
  devices: { number: number; url: string; dataDir: string; socketPath: string }[];
}

export function runFilePath(dataDir: string): string {
  return path.join(dataDir, 'sim.json');
}

/** Start time of a process, from /proc (undefined where there is no /proc or no such process). */
function processStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after "(command name)": state is field 3, starttime field 22
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function readRunState(dataDir: string): RunState | undefined {
  try {
    const state = JSON.parse(fs.readFileSync(runFilePath(dataDir), 'utf8')) as RunState;
    return Number.isInteger(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote the run file still runs (and is that process, not a reuse of its pid). */
export function isRunning(state: RunState): boolean {
  try {
    process.kill(state.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = processStart(state.pid);
  return state.processStart === undefined || now === undefined || now === state.processStart;
}

/** The simulator running on this data directory, if any. */
export function runningSimulator(dataDir: string): RunState | undefined {
  const state = readRunState(dataDir);
  return state && isRunning(state) ? state : undefined;
}

export function alreadyRunningMessage(state: RunState): string {
  const url = state.devices[0] ? `${state.devices[0].url}/` : state.controlUrl;
  return `the simulator is already ${state.ready ? 'running' : 'starting'} at ${url} (pid ${state.pid}); stop it with Ctrl+C in its terminal`;
}

export class AlreadyRunningError extends Error {
  constructor(readonly state: RunState) {
    super(alreadyRunningMessage(state));
  }
}

export interface RunFile {
  /** Rewrites the file (e.g. ready once the banner is out). */
  update(change: Partial<Omit<RunState, 'pid' | 'processStart'>>): void;
  /** Removes the file if it is still this process's. */
  release(): void;
}

/**
 * Claims the data directory for this process: creates the run file, or takes over one whose
 * process is gone; throws AlreadyRunningError if a simulator runs on it.
 */
export function claimRunFile(dataDir: string, initial: Omit<RunState, 'pid' | 'processStart' | 'ready'>): RunFile {
  const file = runFilePath(dataDir);
  let state: RunState = { pid: process.pid, processStart: processStart(process.pid), ready: false, ...initial };
  const write = (flag: 'w' | 'wx'): void => fs.writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { flag, mode: 0o600 });
  // Twice at most: a second start that took the stale file over at the same moment wins the race.
  for (let attempt = 0; ; attempt++) {
    try {
      write('wx');
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const other = readRunState(dataDir);
      if (other && isRunning(other)) throw new AlreadyRunningError(other);
      if (attempt > 0) throw err;
      fs.rmSync(file, { force: true }); // left by a simulator that did not stop (kill -9, power off)
    }
  }
  return {
    update(change) {
      state = { ...state, ...change };
      write('w');
    },
    release() {
      if (readRunState(dataDir)?.pid === process.pid) fs.rmSync(file, { force: true });
    },
  };
}
