import path from 'node:path';
import type { DeviceConfig } from './config.js';
import { openDeviceDatabase, type Db } from './db/database.js';
import { DeviceStorage, isStorageFull } from './db/storage.js';
import { EventLog } from './events/event-log.js';
import { MailSender } from './mail/sender.js';
import { ProviderClients } from './oauth/provider-clients.js';
import { PopChecker } from './mail/pop-checker.js';
import { TokenStore, type Logger } from './oauth/token-store.js';
import { ClockCheck } from './oauth/clock-check.js';
import { grantRulesOf } from './oauth/provider-profiles.js';
import { RenewalSchedule } from './oauth/renewal-schedule.js';
import { tokenCareSettings } from './settings/token-care.js';
import { TokenNotifier } from './notify/token-notifier.js';
import { AdminAccount } from './security/admin-account.js';
import type { CertificateStore } from './security/certificates.js';
import { checkDeviceKey } from './security/device-key-check.js';
import { SecretBox } from './security/secret-box.js';
import { MailAccounts } from './settings/mail-accounts.js';
import { ProviderRepository } from './settings/providers.js';
import { SettingsRepository } from './settings/settings-repository.js';

/** The device's services, built once from the configuration; routes reach them through `app.services`. */
export interface Services {
  config: DeviceConfig;
  db: Db;
  /** The storage's condition (recovery mode, key replaced, full, database gone), for the home page and the save guard. */
  storage: DeviceStorage;
  box: SecretBox;
  admin: AdminAccount;
  settings: SettingsRepository;
  providers: ProviderRepository;
  accounts: MailAccounts;
  events: EventLog;
  tokens: TokenStore;
  clients: ProviderClients;
  /** The device's clock (a lab may run it ahead); token facts, forecasts and the event log use it. */
  clock: () => number;
  /** Providers' `Date` headers against the device clock. */
  clockCheck: ClockCheck;
  /** Keeps each grant alive independently of mail traffic. */
  renewals: RenewalSchedule;
  /** Mail and syslog when a token turns Invalid or will need a new sign-in soon. */
  notifier: TokenNotifier;
  certificates: CertificateStore;
  /** Everything that mails goes through it (outbox, pooled SMTP session, XOAUTH2 from the token store). */
  sender: MailSender;
  /** The E-mail Status page's POP checker: its schedule, Check Now, Connection Test, the e-mail print inbox. */
  popChecker: PopChecker;
  close(): Promise<void>;
}

export function createServices(config: DeviceConfig, log: Logger, certificates: CertificateStore): Services {
  const opened = openDeviceDatabase(config.dataDir);
  const db = opened.db;
  const storage = new DeviceStorage({ db, file: opened.file, identity: opened.identity, log });
  if (opened.full) storage.noteError({ code: 'SQLITE_FULL' });
  else storage.checkAtStart();
  if (opened.recovery) {
    log.error({ storage: 'recovery', reason: opened.recovery.reason, detail: opened.recovery.detail, damagedFile: opened.recovery.damagedFile }, 'the database was damaged: moved aside, started in recovery mode');
    whenWritable(storage, () => storage.recordRecovery(opened.recovery!));
  }
  const box = SecretBox.openOrCreate(config.dataDir);
  const settings = new SettingsRepository(db, box);
  whenWritable(storage, () => {
    const keyCheck = checkDeviceKey(db, box);
    settings.forgetCached(); // the check may have retired or restored sealed settings
    if (keyCheck.kind === 'replaced') log.error({ storage: 'key_replaced', retired: keyCheck.retired }, 'device.key is not the key the secrets were sealed with: they must be entered again');
    if (keyCheck.kind === 'restored') log.warn({ storage: 'key_restored', restored: keyCheck.restored }, 'an earlier device.key is back: the secrets it sealed are restored');
  });
  const providers = new ProviderRepository(db, box);
  const offset = config.clockOffsetMs;
  const clock = offset ? () => Date.now() + offset : Date.now;
  const events = new EventLog(db, clock);
  const clockCheck = new ClockCheck();
  const clients = new ProviderClients((id) => providers.clientSecret(id), config.authorities, { clock, clockCheck });
  const tokens = new TokenStore({ db, box, providers, clients, events, log, clock, rules: (provider) => grantRulesOf(provider, tokenCareSettings(settings).limits) });
  // Told after each renewal pass (forecasts move with time) and each change of a token.
  let notifier: TokenNotifier | undefined;
  const renewals = new RenewalSchedule({ tokens, log, onPass: () => void notifier?.check() });
  const accounts = new MailAccounts(settings, providers);
  // Attachments (scans) are files in <data dir>/outbox, streamed in by the bridge and out by nodemailer.
  // In recovery mode the outbox files no row names are the damaged database's jobs: kept, not swept.
  const sender = new MailSender({
    db, settings, accounts, tokens, log, attachmentDir: path.join(config.dataDir, 'outbox'), sweepUnknownFiles: !storage.recovery() && !opened.recovery,
    canRecordDeliveries: () => storage.problem() !== 'full',
  });
  const popChecker = new PopChecker({ db, settings, accounts, tokens, log });
  popChecker.start();
  notifier = new TokenNotifier({ db, settings, accounts, providers, tokens, sender, log, modelName: config.modelName });
  const notify = notifier;
  tokens.onChange(() => void notify.check());
  renewals.start();
  return {
    config,
    db,
    storage,
    box,
    admin: new AdminAccount(db),
    settings,
    providers,
    accounts,
    events,
    tokens,
    clients,
    clock,
    clockCheck,
    renewals,
    notifier: notify,
    certificates,
    sender,
    popChecker,
    async close() {
      await renewals.close();
      await notify.close();
      await popChecker.close();
      await sender.close();
      await tokens.close();
      storage.close();
      db.close();
    },
  };
}

/** Moves on with every write of a token, a setting or a provider: what a page derives from them can be kept until then. */
export function storedVersion(services: Pick<Services, 'tokens' | 'settings' | 'providers'>): string {
  return `${services.tokens.version}.${services.settings.version}.${services.providers.version}`;
}

/** A start-up step that writes: on a full storage it is skipped, and the device starts read-mostly saying so. */
function whenWritable(storage: DeviceStorage, step: () => void): void {
  try {
    step();
  } catch (err) {
    if (!isStorageFull(err)) throw err;
    storage.noteError(err);
  }
}
