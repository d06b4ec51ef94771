import type { Choice, FormSpec } from './form.js';

/** The two settings pages that can authenticate with OAuth 2.0, and what each uses a token for. */
export type MailPurpose = 'smtp' | 'pop';
export const MAIL_PURPOSES: readonly MailPurpose[] = ['smtp', 'pop'];

export const PROVIDER_CHOICES = 'providers';

/** The printer guide's "Enable SSL/TLS" choices, the same on both pages. */
const SSL_CHOICES: readonly Choice[] = [{ value: 'none', label: 'ssl.none' }, { value: 'starttls', label: 'ssl.starttls' }, { value: 'tls', label: 'ssl.tls' }];

export const smtpForm: FormSpec = {
  id: 'smtp',
  title: 'smtp.title',
  fields: [
    { name: 'primaryServer', label: 'smtp.primaryServer', type: 'host', required: true },
    { name: 'port', label: 'smtp.port', type: 'integer', required: true, min: 1, max: 65535, default: 587 },
    { name: 'timeout', label: 'smtp.timeout', type: 'integer', unit: 'common.seconds', required: true, min: 1, max: 300, default: 20 },
    { name: 'senderName', label: 'smtp.senderName', type: 'text', maxLength: 64 },
    { name: 'senderAddress', label: 'smtp.senderAddress', type: 'email', required: true },
    {
      name: 'ssl', label: 'smtp.ssl', type: 'select', required: true, default: 'starttls',
      choices: SSL_CHOICES,
    },
    {
      name: 'authMethod', label: 'smtp.authMethod', type: 'select', required: true, default: 'none',
      choices: [{ value: 'none', label: 'auth.none' }, { value: 'smtp-auth', label: 'auth.smtpAuth' }, { value: 'oauth2', label: 'auth.oauth2' }],
    },
    { name: 'authUser', label: 'smtp.authUser', type: 'text', maxLength: 128, required: true, when: { field: 'authMethod', in: ['smtp-auth'] } },
    { name: 'authPassword', label: 'smtp.authPassword', type: 'secret', maxLength: 128, required: true, when: { field: 'authMethod', in: ['smtp-auth'] } },
    { name: 'providerId', label: 'smtp.provider', type: 'select', required: true, choices: { dynamic: PROVIDER_CHOICES }, when: { field: 'authMethod', in: ['oauth2'] } },
    { name: 'account', label: 'smtp.account', type: 'email', help: 'smtp.accountHelp', required: true, when: { field: 'authMethod', in: ['oauth2'] } },
  ],
};

export const popForm: FormSpec = {
  id: 'pop',
  title: 'pop.title',
  fields: [
    {
      name: 'protocol', label: 'pop.protocol', type: 'select', required: true, default: 'pop3',
      choices: [{ value: 'pop3', label: 'pop.protocol.pop3' }, { value: 'imap', label: 'pop.protocol.imap' }],
    },
    { name: 'server', label: 'pop.server', type: 'host', required: true },
    // One port per protocol, each with its usual TLS port: switching the protocol shows the right one.
    { name: 'port', label: 'pop.port', type: 'integer', required: true, min: 1, max: 65535, default: 995, when: { field: 'protocol', in: ['pop3'] } },
    { name: 'imapPort', label: 'pop.imapPort', type: 'integer', required: true, min: 1, max: 65535, default: 993, when: { field: 'protocol', in: ['imap'] } },
    { name: 'folder', label: 'pop.folder', type: 'text', help: 'pop.folderHelp', maxLength: 200, required: true, default: 'INBOX', when: { field: 'protocol', in: ['imap'] } },
    { name: 'checkInterval', label: 'pop.checkInterval', type: 'integer', unit: 'common.minutes', required: true, min: 1, max: 1440, default: 5 },
    {
      name: 'ssl', label: 'pop.ssl', type: 'select', required: true, default: 'tls',
      choices: SSL_CHOICES,
    },
    {
      name: 'authMethod', label: 'pop.authMethod', type: 'select', required: true, default: 'plain',
      choices: [{ value: 'plain', label: 'auth.plain' }, { value: 'oauth2', label: 'auth.oauth2' }],
    },
    { name: 'userName', label: 'pop.userName', type: 'text', maxLength: 128, required: true, when: { field: 'authMethod', in: ['plain'] } },
    { name: 'password', label: 'pop.password', type: 'secret', maxLength: 128, required: true, when: { field: 'authMethod', in: ['plain'] } },
    { name: 'providerId', label: 'pop.provider', type: 'select', required: true, choices: { dynamic: PROVIDER_CHOICES }, when: { field: 'authMethod', in: ['oauth2'] } },
    { name: 'account', label: 'pop.account', type: 'email', help: 'smtp.accountHelp', required: true, when: { field: 'authMethod', in: ['oauth2'] } },
  ],
};

export const mailForms: Record<MailPurpose, FormSpec> = { smtp: smtpForm, pop: popForm };

/** Where each page lives in the menu, for links and redirects. */
export const mailPagePaths: Record<MailPurpose, string> = {
  smtp: '/settings/network/smtp',
  pop: '/settings/system/email-status',
};
