/**
 * The crash soak: a printer queues N scan jobs through the firmware bridge while the device is killed
 * (SIGKILL, as a power cut would) at random moments and started again on the same data; at the end the
 * lab SMTP server's mail is counted by Message-ID and by job.
 *
 * - queued: jobs the bridge acknowledged (202): from then on the device owns them.
 * - delivered: queued jobs the SMTP server received at least once; lost: queued jobs it never received.
 * - duplicated: extra copies of one Message-ID (the device was killed between the server's 250 and
 *   recording it: at-least-once delivery's only window).
 * - resubmitted: jobs whose upload was cut by a kill and sent again by the printer, as firmware does;
 *   when the first upload had been queued after all, the job arrives under two Message-IDs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BridgeClient } from '../bridge-client.js';
import { startCloud, type Cloud } from '../cloud/index.js';
import { makePdf } from '../pdf.js';
import { configureDevice, obtainToken, startSimDevice, type SimDevice } from '../sim-device.js';

export interface CrashSoakOptions {
  jobs: number;
  kills: number;
  /** seed of the random kill moments (printed, so a run can be repeated) */
  seed?: number;
  /** scans uploaded at once by the printer */
  concurrency?: number;
  /** give up waiting for the outbox to drain after this long */
  drainTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface CrashSoakReport {
  seed: number;
  jobs: number;
  kills: number;
  queued: number;
  delivered: number;
  lost: number;
  duplicated: number;
  resubmitted: number;
  /** resubmitted jobs that arrived under two Message-IDs */
  resubmittedTwice: number;
  lostSubjects: string[];
  seconds: number;
}

/** A small seeded generator (mulberry32): the same seed gives the same kill moments. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const subjectOf = (raw: Buffer) => /^Subject:\s*(.+)$/im.exec(raw.toString('utf8'))?.[1]?.trim();
const messageIdOf = (raw: Buffer) => /^Message-ID:\s*(<[^>]+>)/im.exec(raw.toString('utf8'))?.[1];

export async function runCrashSoak(options: CrashSoakOptions): Promise<CrashSoakReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rand = random(seed);
  const log = options.log ?? (() => {});
  const concurrency = options.concurrency ?? 2;
  const started = Date.now();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mfp-soak-'));
  const adminPassword = 'soak-admin-password';
  const runId = seed.toString(36);
  let cloud: Cloud | undefined;
  let device: SimDevice | undefined;
  try {
    cloud = await startCloud({ pop: false, loopMail: false, deviceInterval: 1 });
    device = await startSimDevice({ dataDir, adminPassword, cloud });
    const ports = { port: device.port, httpsPort: device.httpsPort };
    const panel = await device.panel();
    await configureDevice(panel, cloud, device);
    await obtainToken(panel, cloud, 'smtp');
    log(`soak: seed ${seed}, ${options.jobs} jobs, ${options.kills} kills, data ${dataDir}`);

    // Kill moments spread over the whole run: progress counts acknowledged jobs and received mails (0..2N).
    const killAt = Array.from({ length: options.kills }, () => 1 + Math.floor(rand() * (2 * options.jobs - 1))).sort((a, b) => a - b);
    const acknowledged = new Set<number>();
    const resubmitted = new Set<number>();
    let restarting: Promise<void> | null = null;
    let kills = 0;
    const progress = () => acknowledged.size + cloud!.smtp.received.length;

    const restart = async (): Promise<void> => {
      // A random moment shortly after the mark: mid-upload, mid-send, mid-commit.
      await sleep(Math.floor(rand() * 40));
      device!.child.kill('SIGKILL');
      await new Promise<void>((resolve) => (device!.child.exitCode !== null || device!.child.signalCode !== null ? resolve() : device!.child.once('exit', () => resolve())));
      kills++;
      log(`soak: kill ${kills}/${options.kills} at ${acknowledged.size} queued, ${cloud!.smtp.received.length} received`);
      device = await startSimDevice({ dataDir, adminPassword, cloud: cloud!, ...ports });
    };
    const watcher = setInterval(() => {
      if (restarting || !killAt.length || progress() < killAt[0]!) return;
      killAt.shift();
      restarting = restart().finally(() => (restarting = null));
    }, 2);

    // The printer: each job until the bridge acknowledged it; a cut upload is sent again once the device is back.
    let next = 0;
    const pdf = makePdf(1, 'Soak scan');
    const printer = async () => {
      for (let n = next++; n < options.jobs; n = next++) {
        for (;;) {
          if (restarting) await restarting;
          const bridge = new BridgeClient(device!.socketPath, 10_000);
          const answer = await bridge
            .call('POST', '/scan-to-email', { to: ['soak@lab.example'], subject: `soak ${runId} #${n}`, fileName: `scan${n}.pdf`, pdfBase64: pdf.toString('base64'), pages: 1 })
            .catch(() => undefined); // the device died under the upload, or is not up yet
          if (answer?.status === 202) break;
          if (answer && answer.status < 500) throw new Error(`the bridge refused job ${n}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
          resubmitted.add(n);
          await sleep(50);
        }
        acknowledged.add(n);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, printer));

    // Every queued job must come out, whatever kills are still due.
    const deadline = Date.now() + (options.drainTimeoutMs ?? 120_000);
    const subjects = () => new Set(cloud!.smtp.received.map((mail) => subjectOf(mail.raw)));
    for (;;) {
      const received = subjects();
      if (!killAt.length && !restarting && [...acknowledged].every((n) => received.has(`soak ${runId} #${n}`))) break;
      if (Date.now() > deadline) break;
      // Kill moments past the last mail still happen (the count cannot reach them otherwise).
      if (!restarting && killAt.length && progress() >= 2 * options.jobs - 1) killAt[0] = 0;
      await sleep(50);
    }
    clearInterval(watcher);
    if (restarting) await restarting;
    await sleep(500); // a last copy in flight arrives too

    const byId = new Map<string, number>();
    const idsBySubject = new Map<string, Set<string>>();
    for (const mail of cloud.smtp.received) {
      const id = messageIdOf(mail.raw) ?? '';
      const subject = subjectOf(mail.raw) ?? '';
      byId.set(id, (byId.get(id) ?? 0) + 1);
      idsBySubject.set(subject, (idsBySubject.get(subject) ?? new Set()).add(id));
    }
    const lostSubjects = [...acknowledged].map((n) => `soak ${runId} #${n}`).filter((subject) => !idsBySubject.has(subject));
    return {
      seed,
      jobs: options.jobs,
      kills,
      queued: acknowledged.size,
      delivered: acknowledged.size - lostSubjects.length,
      lost: lostSubjects.length,
      duplicated: [...byId.values()].reduce((sum, copies) => sum + copies - 1, 0),
      resubmitted: resubmitted.size,
      resubmittedTwice: [...resubmitted].filter((n) => (idsBySubject.get(`soak ${runId} #${n}`)?.size ?? 0) > 1).length,
      lostSubjects,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    await device?.stop().catch(() => {});
    await cloud?.close().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export function formatCrashSoak(report: CrashSoakReport): string {
  return [
    `crash soak (seed ${report.seed}): ${report.jobs} jobs, ${report.kills} × kill -9, ${report.seconds} s`,
    `  queued      ${report.queued}`,
    `  delivered   ${report.delivered}`,
    `  lost        ${report.lost}${report.lost ? `  (${report.lostSubjects.slice(0, 10).join(', ')})` : ''}`,
    `  duplicated  ${report.duplicated}  (same Message-ID received again: killed between the server's 250 and recording it)`,
    `  resubmitted ${report.resubmitted}  (upload cut by a kill, sent again by the printer; ${report.resubmittedTwice} of them had been queued after all and arrived twice under two Message-IDs)`,
  ].join('\n');
}
