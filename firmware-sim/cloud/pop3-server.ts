// The lab's POP3 (and, on request, IMAP) server: a private Dovecot instance that checks XOAUTH2/OAUTHBEARER tokens by
// calling the authorization server's introspection endpoint (REFERENCE.md §3). Every file it uses
// lives in a temp dir: it never reads /etc/dovecot nor touches the packaged system service.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../free-port.js';

export const DOVECOT_BIN = '/usr/sbin/dovecot';

export interface DovecotLabOptions {
  /** Default: a free port. */
  port?: number;
  introspection: {
    /** e.g. http://client:secret@127.0.0.1:PORT/token/introspection (Basic credentials in the URL). */
    url: string;
  };
  /** Scope the token must carry. Default 'mail.pop'. */
  requiredScope?: string;
  /** Optional plain users for USER/PASS, through a passwd-file passdb. */
  passwords?: Record<string, string>;
  /** Offer STLS with this certificate. */
  tls?: { certFile: string; keyFile: string };
  /** Also serve IMAP (Debian's dovecot-imapd) on a port of its own (default: a free port). */
  imap?: { port?: number };
}

export interface DovecotLab {
  port: number;
  /** The IMAP port, when asked for. */
  imapPort?: number;
  dir: string;
  /** Write a message into the user's Maildir/new; returns its file name, which is also its POP3 UIDL. */
  deliver(user: string, raw: string | Buffer): Promise<string>;
  /** Dovecot's log so far (credentials masked), for diagnosing a failing test. */
  log(): Promise<string>;
  /** Stop the dovecot process and remove the temp dir. */
  close(): Promise<void>;
}

export function dovecotAvailable(): boolean {
  return existsSync(DOVECOT_BIN);
}

// Dovecot runs in its own process group under a watchdog shell. Its children outlive its master
// (for up to 30 s, measured), so we always stop the whole group. The watchdog notices our death as
// EOF on its stdin pipe, which the kernel closes even when node is SIGKILLed: no orphaned `dovecot -F`,
// no temp dir left behind ($3).
const WATCHDOG = `
exec 3<&0
"$1" -F -c "$2" </dev/null 3<&- &
pid=$!
{ cat <&3 >/dev/null; trap '' TERM; kill -TERM 0; sleep 0.3; rm -rf -- "$3"; kill -KILL 0; } </dev/null &
watcher=$!
exec 3<&-
trap 'wait; exit 143' TERM
wait "$pid"
status=$?
kill "$watcher" 2>/dev/null
wait
exit "$status"
`;

// Belt and braces for normal exits (including --test-force-exit's process.exit).
const running = new Map<number /* process group */, string /* temp dir */>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const [pgid, dir] of running) {
      killGroup(pgid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** Signal a process group; false when no process is left in it. */
function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

let deliveries = 0;

/** Validates a user name used as a path segment (Dovecot's %u): no traversal, no separators. */
function userDir(dir: string, user: string): string {
  if (!/^[A-Za-z0-9._@+-]+$/.test(user) || user.startsWith('.')) throw new TypeError(`unsupported lab user name: ${user}`);
  return path.join(dir, 'mail', user);
}


function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The introspection URL's password, to mask it wherever it might be echoed. */
function urlSecret(url: string): string | undefined {
  try {
    const p = decodeURIComponent(new URL(url).password);
    return p.length > 0 ? p : undefined;
  } catch {
    return undefined;
  }
}

interface Ids {
  uid: number;
  gid: number;
  user: string;
  group: string;
  root: boolean;
}

function ids(): Ids {
  const root = process.getuid?.() === 0;
  if (root) return { uid: 65534, gid: 65534, user: 'nobody', group: 'nogroup', root }; // uid 0 is refused for mail
  const me = os.userInfo();
  // Dovecot wants a group name for its internal sockets; /etc/group maps our gid to it.
  const group =
    readFileSync('/etc/group', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[2] === String(me.gid))?.[0] ?? me.username;
  return { uid: me.uid, gid: me.gid, user: me.username, group, root };
}

function config(dir: string, port: number, imapPort: number | undefined, opts: DovecotLabOptions, id: Ids): string {
  const withPasswords = opts.passwords !== undefined && Object.keys(opts.passwords).length > 0;
  // XOAUTH2 alone, as Exchange Online offers it: an IMAP client then signs in with XOAUTH2 too
  // (imapflow prefers OAUTHBEARER wherever a server offers it).
  const mechs = ['xoauth2', ...(withPasswords ? ['plain'] : [])].join(' ');
  const lines = [
    `# Generated by firmware-sim/cloud/pop3-server.ts for one lab run; nothing comes from /etc/dovecot.`,
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    `instance_name = ${path.basename(dir)}`,
    `log_path = ${dir}/dovecot.log`,
    `listen = 127.0.0.1`,
    `protocols = pop3${imapPort !== undefined ? ' imap' : ''}`,
    `auth_mechanisms = ${mechs}`,
    // Fast failing tests: no delay after a failed login, and no per-IP penalty either.
    `auth_failure_delay = 0`,
    `auth_verbose = yes`,
    `mail_location = maildir:${dir}/mail/%u/Maildir`,
    // UIDL = the Maildir file name, so deliver() can tell the tests which UIDL a message gets.
    `pop3_uidl_format = %f`,
    `first_valid_uid = ${Math.min(id.uid, 500)}`,
    `first_valid_gid = ${Math.min(id.gid, 500)}`,
  ];
  if (!id.root) {
    // Unprivileged: every Dovecot process runs as us (and cannot chroot, see below).
    lines.push(`default_internal_user = ${id.user}`, `default_internal_group = ${id.group}`, `default_login_user = ${id.user}`);
  }
  if (opts.tls) {
    lines.push(`ssl = yes`, `ssl_cert = <${opts.tls.certFile}`, `ssl_key = <${opts.tls.keyFile}`);
  } else {
    lines.push(`ssl = no`);
  }
  lines.push(
    `passdb {`,
    `  driver = oauth2`,
    `  mechanisms = xoauth2`,
    `  args = ${dir}/oauth2.ext`,
    `}`,
  );
  if (withPasswords) {
    lines.push(
      `passdb {`,
      `  driver = passwd-file`,
      // Only for USER/PASS: a password must never pass as a bearer token, nor a token as a password.
      `  mechanisms = plain`,
      `  args = scheme=PLAIN username_format=%u ${dir}/passwd`,
      `}`,
    );
  }
  lines.push(
    `userdb {`,
    `  driver = static`,
    `  args = uid=${id.uid} gid=${id.gid} home=${dir}/mail/%u`,
    `}`,
    `service pop3-login {`,
    ...(id.root ? [] : [`  chroot =`]),
    `  inet_listener pop3 {`,
    `    address = 127.0.0.1`,
    `    port = ${port}`,
    `  }`,
    `  inet_listener pop3s {`,
    `    port = 0`,
    `  }`,
    `}`,
    ...(imapPort !== undefined ? [
      `service imap-login {`,
      ...(id.root ? [] : [`  chroot =`]),
      `  inet_listener imap {`,
      `    address = 127.0.0.1`,
      `    port = ${imapPort}`,
      `  }`,
      `  inet_listener imaps {`,
      `    port = 0`,
      `  }`,
      `}`,
    ] : []),
    `service anvil {`,
    ...(id.root ? [] : [`  chroot =`]),
    `  unix_listener anvil-auth-penalty {`,
    `    mode = 0`,
    `  }`,
    `}`,
    '',
  );
  return lines.join('\n');
}

function oauth2Ext(opts: DovecotLabOptions): string {
  return [
    `introspection_mode = post`,
    `introspection_url = ${opts.introspection.url}`,
    `username_attribute = email`,
    `active_attribute = active`,
    `active_value = true`,
    `force_introspection = yes`,
    // Debian's build requires every listed scope to be in the token.
    `scope = ${opts.requiredScope ?? 'mail.pop'}`,
    '',
  ].join('\n');
}

function passwdFile(passwords: Record<string, string>): string {
  // base64 keeps ':' and other separators in passwords from breaking the passwd-file format.
  return Object.entries(passwords)
    .map(([user, pw]) => {
      if (!/^[A-Za-z0-9._@+-]+$/.test(user)) throw new TypeError(`unsupported lab user name: ${user}`);
      return `${user}:{PLAIN.b64}${Buffer.from(pw).toString('base64')}::::::\n`;
    })
    .join('');
}

export async function startDovecotLab(opts: DovecotLabOptions): Promise<DovecotLab> {
  if (!dovecotAvailable()) throw new Error(`${DOVECOT_BIN} not found (apt-get install dovecot-core dovecot-pop3d)`);
  const id = ids();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'dovecot-lab-'));
  const secrets = [urlSecret(opts.introspection.url), ...Object.values(opts.passwords ?? {})].filter(
    (s): s is string => s !== undefined && s.length >= 4,
  );
  const mask = (text: string) => secrets.reduce((t, s) => t.split(s).join('********'), text);

  let child: ChildProcess | null = null;
  let port = 0;
  let imapPort: number | undefined;
  try {
    // Mail processes run as `nobody`: they must be able to reach <dir>/mail/<user>/Maildir.
    await fs.chmod(dir, 0o711);
    await fs.mkdir(path.join(dir, 'mail'), { mode: 0o711 });
    if (id.root) await fs.chown(path.join(dir, 'mail'), id.uid, id.gid);
    // The auth process (user dovecot) reads oauth2.ext/passwd; the temp dir is not listable.
    await fs.writeFile(path.join(dir, 'oauth2.ext'), oauth2Ext(opts), { mode: 0o644 });
    if (opts.passwords) await fs.writeFile(path.join(dir, 'passwd'), passwdFile(opts.passwords), { mode: 0o644 });

    const fixedPort = opts.port !== undefined;
    let lastError = '';
    // A port found free can be taken before Dovecot binds it: retry with another one.
    for (let attempt = 0; attempt < (fixedPort ? 1 : 3); attempt++) {
      port = opts.port ?? (await freePort());
      imapPort = opts.imap ? (opts.imap.port ?? (await freePort())) : undefined;
      await fs.writeFile(path.join(dir, 'dovecot.conf'), config(dir, port, imapPort, opts, id), { mode: 0o644 });
      await fs.rm(path.join(dir, 'dovecot.log'), { force: true });
      const started = await launch(dir, [port, ...(imapPort !== undefined ? [imapPort] : [])]);
      if (started.ok) {
        child = started.child;
        break;
      }
      lastError = started.reason;
    }
    if (!child) {
      const log = await fs.readFile(path.join(dir, 'dovecot.log'), 'utf8').catch(() => '');
      throw new Error(`dovecot did not start: ${mask(lastError)}\n${mask(log).slice(-2000)}`);
    }
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw err;
  }

  const proc = child;
  let closed: Promise<void> | null = null;

  return {
    port,
    ...(imapPort !== undefined ? { imapPort } : {}),
    dir,
    async deliver(user, raw) {
      const maildir = path.join(userDir(dir, user), 'Maildir');
      for (const sub of ['', 'cur', 'new', 'tmp']) {
        await fs.mkdir(path.join(maildir, sub), { recursive: true, mode: 0o700 });
      }
      if (id.root) {
        for (const p of [userDir(dir, user), maildir, ...['cur', 'new', 'tmp'].map((s) => path.join(maildir, s))]) {
          await fs.chown(p, id.uid, id.gid);
        }
      }
      // Maildir delivery: write under tmp/, then rename into new/ so Dovecot never sees half a file.
      const now = Date.now();
      const name = `${Math.floor(now / 1000)}.M${(now % 1000) * 1000}P${process.pid}Q${++deliveries}.lab`;
      const tmp = path.join(maildir, 'tmp', name);
      await fs.writeFile(tmp, raw, { mode: 0o600 });
      if (id.root) await fs.chown(tmp, id.uid, id.gid);
      await fs.rename(tmp, path.join(maildir, 'new', name));
      return name;
    },
    async log() {
      return mask(await fs.readFile(path.join(dir, 'dovecot.log'), 'utf8').catch(() => ''));
    },
    close() {
      closed ??= (async () => {
        await stop(proc);
        await fs.rm(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

type Launch = { ok: true; child: ChildProcess } | { ok: false; reason: string };

async function launch(dir: string, ports: number[]): Promise<Launch> {
  installExitHook();
  const child = spawn('/bin/sh', ['-c', WATCHDOG, 'dovecot-lab', DOVECOT_BIN, path.join(dir, 'dovecot.conf'), dir], {
    stdio: ['pipe', 'ignore', 'pipe'],
    detached: true, // own process group: stop() signals Dovecot and all its children at once
    // Dovecot reads no environment that could point it elsewhere; keep PATH for its helpers.
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const pgid = child.pid;
  if (pgid === undefined) return { ok: false, reason: 'could not spawn /bin/sh' };
  running.set(pgid, dir);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !exited) {
    if ((await Promise.all(ports.map(canConnect))).every(Boolean)) return { ok: true, child };
    await new Promise((r) => setTimeout(r, 5));
  }
  await stop(child);
  return { ok: false, reason: exited ? `exited early: ${stderr.trim()}` : 'port not open after 10 s' };
}

async function stop(child: ChildProcess): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  const exited =
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
  // SIGTERM to the whole group: every Dovecot process exits within milliseconds (the master alone,
  // signalled on its own, takes 1.1 s and leaves its children running). The shell waits for them.
  // Repeated, because a service the master spawns during shutdown would miss a single signal.
  killGroup(pgid, 'SIGTERM');
  const again = setInterval(() => killGroup(pgid, 'SIGTERM'), 50);
  const timer = setTimeout(() => killGroup(pgid, 'SIGKILL'), 3_000);
  await exited;
  clearInterval(again);
  clearTimeout(timer);
  killGroup(pgid, 'SIGKILL'); // stragglers that outlived the master
  child.stdin?.destroy();
  running.delete(pgid);
}
