/** The POP3 client behind the mailbox checker's interface: UIDL tells new mail from mail fetched before. */
import type { MailboxClient, MailboxSession, MessageRef, NewMail, SeenLedger } from './mailbox-client.js';
import { connectPop3, type Pop3Session } from './pop3-client.js';

class Pop3MailboxSession implements MailboxSession {
  constructor(readonly pop: Pop3Session) {}

  get transcript() {
    return this.pop.transcript;
  }

  async newMessages(seen: SeenLedger, mailbox: string): Promise<NewMail> {
    const onServer = await this.pop.uidl();
    const { fresh, forgotten } = seen.reconcile(mailbox, onServer);
    return { mailbox, onServer: onServer.size, fresh, forgotten };
  }

  retrieve(ref: MessageRef): Promise<Buffer> {
    return this.pop.retrieve(ref.number);
  }

  quit(): Promise<void> {
    return this.pop.quit();
  }

  close(): void {
    this.pop.close();
  }
}

export const pop3Mailbox: MailboxClient = {
  async open(target, credential, step, opened) {
    const pop = await connectPop3({ host: target.host, port: target.port, security: target.security, timeoutMs: target.timeoutMs, ...(target.tls ? { tls: target.tls } : {}) });
    const session = new Pop3MailboxSession(pop);
    opened(session);
    step('connect', 'ok', `${target.host}:${target.port}`);
    const tlsLine = pop.transcript.find((l) => l.direction === 'info' && l.text.startsWith('TLS established'));
    step('tls', target.security === 'none' ? 'not_used' : 'ok', tlsLine?.text);
    step('greeting', 'ok', pop.greeting);
    try {
      const caps = await pop.capabilities();
      step('capa', 'ok', caps.length ? caps.join(', ') : '(none)');
    } catch (err) {
      step('capa', 'failed', err instanceof Error ? err.message : String(err));
      throw err;
    }
    if (credential.method === 'plain') await pop.loginWithPassword(credential.user, credential.password);
    else await pop.loginWithXoauth2(credential.user, credential.accessToken);
    return session;
  },
};
