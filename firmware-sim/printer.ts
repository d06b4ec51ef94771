// The simulated printer: what the firmware of a real printer would do, through the device's
// firmware bridge (./bridge-client.ts) — scan-to-email jobs with a PDF, alert events, POP checks
// at the configured interval (a fast "minute" in the simulator) whose fetched mail becomes
// e-mail-print jobs.
import { BridgeClient, type BridgeStatus, type DeviceEventKind, type EventAnswer, type PopCheckAnswer, type ScanToEmailAnswer } from './bridge-client.js';
import { makePdf } from './pdf.js';

export interface PrintJob { at: number; messages: number }

export interface PrinterOptions {
  socketPath: string;
  /** a name for the transcript, e.g. "printer 1" */
  name?: string;
  /** told of everything the printer does, one line each; a POP check's line comes with its answer */
  log?: (line: string, check?: PopCheckReport) => void;
}

export interface PopCheckReport extends PopCheckAnswer {
  /** the check had nothing to do yet: no account on the page, or no token obtained (or being authorized) */
  notSetUp: boolean;
}

export interface ScanOptions {
  to: string[];
  subject?: string;
  pages?: number;
  fileName?: string;
}

let scans = 0;

export class SimulatedPrinter {
  readonly bridge: BridgeClient;
  readonly name: string;
  /** e-mail-print jobs: what the POP checks fetched */
  readonly printJobs: PrintJob[] = [];
  readonly checks: PopCheckAnswer[] = [];
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<unknown> | undefined;
  #log: (line: string, check?: PopCheckReport) => void;

  constructor(options: PrinterOptions) {
    this.bridge = new BridgeClient(options.socketPath);
    this.name = options.name ?? 'printer';
    this.#log = options.log ?? (() => {});
  }

  #say(line: string, check?: PopCheckReport): void {
    this.#log(`${this.name}: ${line}`, check);
  }

  async scan(options: ScanOptions): Promise<ScanToEmailAnswer> {
    const n = ++scans;
    const pages = options.pages ?? 1;
    const subject = options.subject ?? `Scan ${String(n).padStart(4, '0')}`;
    const fileName = options.fileName ?? `scan${String(n).padStart(4, '0')}.pdf`;
    const pdf = makePdf(pages, subject);
    const answer = await this.bridge.scanToEmail({ to: options.to, subject, fileName, pdfBase64: pdf.toString('base64'), pages });
    const who = options.to.length <= 3 ? options.to.join(', ') : `${options.to.length} recipients`;
    this.#say(`scan-to-email "${subject}" (${pages}-page PDF ${fileName}, ${pdf.length} bytes) to ${who} → job ${answer.jobId}${answer.held ? ' (held)' : ''}`);
    return answer;
  }

  async event(kind: DeviceEventKind, detail?: string): Promise<EventAnswer> {
    const answer = await this.bridge.event(kind, detail);
    this.#say(`event ${kind}${detail ? ` (${detail})` : ''} → event ${answer.eventId}, ${answer.alertJobId === null ? 'no alert mail' : `alert mail job ${answer.alertJobId}`}`);
    return answer;
  }

  status(): Promise<BridgeStatus> {
    return this.bridge.status();
  }

  /** One POP check (POST /pop/check); fetched mail becomes an e-mail-print job. */
  async checkPop(): Promise<PopCheckReport> {
    const answer = await this.bridge.popCheck();
    this.checks.push(answer);
    if (answer.fetched > 0) this.printJobs.push({ at: Date.now(), messages: answer.fetched });
    const report = { ...answer, notSetUp: await this.#notSetUp(answer) };
    this.#say(`POP check → ${answer.ok ? 'ok' : 'failed'}, ${answer.fetched} fetched${answer.problem ? `, problem ${answer.problem.code}: ${answer.problem.message}` : ''}${answer.fetched > 0 ? ` → e-mail print job of ${answer.fetched} message(s)` : ''}`, report);
    return report;
  }

  async #notSetUp(answer: PopCheckAnswer): Promise<boolean> {
    if (answer.problem?.code === 'not_configured') return true;
    if (answer.problem?.code !== 'token_unavailable') return false;
    // An Invalid token is a real failure (revoked, password reset); none yet is only a set-up step to come.
    const token = await this.bridge.status().then((s) => s.tokens.pop, () => undefined);
    return token === 'not_obtained' || token === 'awaiting_authorization';
  }

  /** Checks the mailbox every `intervalMs` (the page's Check Interval times the simulator's minute). */
  startPopSchedule(intervalMs: number): void {
    this.stopPopSchedule();
    this.#timer = setInterval(() => {
      if (this.#checking) return; // the previous check is still running
      this.#checking = this.checkPop().catch((err: unknown) => this.#say(`POP check could not be started: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => { this.#checking = undefined; });
    }, Math.max(50, intervalMs));
    this.#timer.unref();
  }

  stopPopSchedule(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async stop(): Promise<void> {
    this.stopPopSchedule();
    await this.#checking;
  }
}
