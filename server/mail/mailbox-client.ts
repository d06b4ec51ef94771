/**
 * What the mailbox checker (E-mail Status) needs of a protocol, POP3 or IMAP, behind one interface:
 * open a session (connect, TLS, greeting, capabilities, sign-in, each step reported), list what is new
 * since the last check, fetch one message, quit. Both clients throw Pop3Error (named for the first
 * protocol); a refused sign-in is its kind 'auth', which the checker answers with one renewed token.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Pop3Security, TranscriptLine } from './pop3-client.js';

export type MailProtocol = 'pop3' | 'imap';

export type MailboxStepName = 'connect' | 'tls' | 'greeting' | 'capa' | 'auth' | 'fetch';
export type MailboxStepStatus = 'ok' | 'failed' | 'not_used' | 'not_reached';
export type StepReporter = (name: MailboxStepName, status: MailboxStepStatus, text?: string) => void;

export interface MailboxTarget {
  host: string;
  port: number;
  security: Pop3Security;
  timeoutMs: number;
  tls?: ConnectionOptions;
  /** IMAP: the folder to check (INBOX unless the page names another). */
  folder: string;
}

export type MailboxCredential = { method: 'plain'; user: string; password: string } | { method: 'oauth2'; user: string; accessToken: string };

/** A message the checker has not fetched: its stable id (POP UIDL, IMAP UID) and how to ask for it. */
export interface MessageRef {
  uid: string;
  /** POP: the message number in this session; IMAP: the UID. */
  number: number;
}

/** What the device remembers of a mailbox (implemented by PopInbox, in SQLite). */
export interface SeenLedger {
  /** POP: the UIDL entries not fetched yet (server order); forgets UIDs no longer on the server. */
  reconcile(mailbox: string, onServer: ReadonlyMap<string, number>): { fresh: MessageRef[]; forgotten: number };
  /**
   * IMAP: the highest UID fetched from this folder while its UIDVALIDITY stays `uidValidity` (0 when
   * none): a changed UIDVALIDITY means the server renumbered the folder, so all of it is new again.
   */
  imapCursor(folderKey: string, uidValidity: string): { mailbox: string; lastUid: number; forgotten: number };
}

export interface NewMail {
  /** The key the fetched messages are recorded under. */
  mailbox: string;
  onServer: number;
  /** Oldest first. */
  fresh: MessageRef[];
  forgotten: number;
}

export interface MailboxSession {
  readonly transcript: readonly TranscriptLine[];
  /** Messages not fetched before; `mailbox` is the checker's key for this server and user. */
  newMessages(seen: SeenLedger, mailbox: string): Promise<NewMail>;
  retrieve(ref: MessageRef): Promise<Buffer>;
  quit(): Promise<void>;
  close(): void;
}

export interface MailboxClient {
  /**
   * Connects and signs in, reporting each step as it passes; `opened` gets the session as soon as
   * there is one, so its transcript survives a failed sign-in and close() can end it.
   */
  open(target: MailboxTarget, credential: MailboxCredential, step: StepReporter, opened: (session: MailboxSession) => void): Promise<MailboxSession>;
}
