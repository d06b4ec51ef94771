/**
 * A syslog line (RFC 5424) to the server the admin names, over UDP (RFC 5426: one datagram) or TCP
 * (RFC 6587: octet counting). Small enough to write by hand; no package does just this well.
 */
import dgram from 'node:dgram';
import net from 'node:net';

/** RFC 5424 severities used here. */
export type Severity = 'error' | 'warning' | 'notice';
const SEVERITY: Record<Severity, number> = { error: 3, warning: 4, notice: 5 };
/** local0: the facility left to the site, as printers use it. */
const FACILITY_LOCAL0 = 16;
/** RFC 5612's enterprise number for documentation; structured data names need one. */
const SD_ID = 'token@32473';

export interface SyslogMessage {
  severity: Severity;
  /** MSGID: what happened, e.g. token-invalid. */
  msgId: string;
  /** Structured data parameters (provider, account, page). */
  params: Record<string, string>;
  text: string;
  at: number;
}

/** PRINTUSASCII without space, at most `max` characters, or the nil value. */
function header(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean || '-';
}

/** RFC 5424 §6.3.3: `"`, `\` and `]` are escaped in parameter values. */
function paramValue(value: string): string {
  return value.replace(/[\\"\]]/g, (c) => `\\${c}`).replace(/[\r\n]+/g, ' ');
}

export function formatSyslog(message: SyslogMessage, hostname: string, appName = 'mfp-panel'): string {
  const pri = FACILITY_LOCAL0 * 8 + SEVERITY[message.severity];
  const params = Object.entries(message.params).map(([name, value]) => ` ${header(name, 32)}="${paramValue(value)}"`).join('');
  const data = params ? `[${SD_ID}${params}]` : '-';
  // MSG in UTF-8, marked with the BOM as §6.4 asks; one line (a receiver splits on line breaks).
  return `<${pri}>1 ${new Date(message.at).toISOString()} ${header(hostname, 255)} ${header(appName, 48)} - ${header(message.msgId, 32)} ${data} \ufeff${message.text.replace(/[\r\n]+/g, ' ')}`;
}

export interface SyslogTarget {
  transport: 'udp' | 'tcp';
  host: string;
  port: number;
}

/** Sends one line; rejects when it could not be handed over (TCP: connected and written) within the timeout. */
export async function sendSyslog(target: SyslogTarget, line: string, timeoutMs = 5_000): Promise<void> {
  const bytes = Buffer.from(line, 'utf8');
  if (target.transport === 'udp') {
    const socket = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('syslog: timed out')), timeoutMs);
        socket.once('error', reject);
        socket.send(bytes, target.port, target.host, (err) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve();
        });
      });
    } finally {
      socket.close();
    }
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('syslog: timed out')));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.end(Buffer.concat([Buffer.from(`${bytes.length} `), bytes]), () => resolve());
    });
  });
}
