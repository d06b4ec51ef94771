/**
 * Schema migrations, applied in order; user_version counts how many ran.
 * Never edit a released step: append a new one.
 */
export const migrations: readonly string[] = [
  `
  CREATE TABLE admin (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,
    changed_at INTEGER NOT NULL
  );

  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );

  -- One row per settings page (smtp, pop); values as JSON validated by the page's spec.
  CREATE TABLE settings (
    page TEXT PRIMARY KEY,
    json TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );

  CREATE TABLE providers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    json TEXT NOT NULL,              -- non-secret settings of the type
    client_secret_enc TEXT,          -- AES-256-GCM, see security/secret-box.ts
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );

  -- One credential per (provider, account): the token, a pending authorization, or the last failure.
  CREATE TABLE credentials (
    provider_id INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    account TEXT NOT NULL,           -- lower-cased mailbox
    scope TEXT NOT NULL DEFAULT '',
    access_token_enc TEXT,
    refresh_token_enc TEXT,
    access_expires_at INTEGER,       -- ms since epoch
    obtained_at INTEGER,
    invalid_code TEXT,
    invalid_detail TEXT,
    pending_enc TEXT,                -- encrypted JSON of the provider's device authorization answer
    pending_user_code TEXT,
    pending_verification_uri TEXT,
    pending_verification_uri_complete TEXT,
    pending_expires_at INTEGER,
    pending_interval INTEGER,
    failure_code TEXT,
    failure_detail TEXT,
    failure_at INTEGER,
    warning_code TEXT,
    warning_at INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (provider_id, account)
  );

  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    provider_name TEXT,
    account TEXT,
    detail TEXT
  );
  CREATE INDEX events_at ON events(at);
  `,
  `
  -- The mail outbox: a job is written here before any network I/O and removed once the server took it.
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,              -- scan | alert | other
    status TEXT NOT NULL,            -- queued | held | failed
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    message_json TEXT NOT NULL,      -- headers and body (no secrets)
    recipients_json TEXT NOT NULL,   -- envelope recipients not yet accepted by the server
    delivered_count INTEGER NOT NULL DEFAULT 0,
    rejected_json TEXT NOT NULL DEFAULT '[]', -- recipients refused for good, with the reply
    hold TEXT,                       -- what a held job waits for: 'token' or 'settings:<fingerprint>'
    reason_code TEXT,
    reason_detail TEXT,
    reason_at INTEGER
  );
  CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

  CREATE TABLE outbox_attachments (
    job_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (job_id, idx)
  );
  `,
  `
  -- The POP status checker: the UIDs already fetched per mailbox ("host/user"), so a check fetches
  -- only new mail; the e-mail print inbox (what was fetched); the outcome of the last check.
  CREATE TABLE pop_seen (
    mailbox TEXT NOT NULL,
    uid TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (mailbox, uid)
  ) WITHOUT ROWID;

  CREATE TABLE pop_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox TEXT NOT NULL,
    uid TEXT NOT NULL,
    from_text TEXT,
    subject TEXT,
    date_header TEXT,
    size INTEGER NOT NULL,
    received_at INTEGER NOT NULL,    -- when the device fetched it (ms since epoch)
    raw BLOB                         -- the message as fetched, only when at most the size cap
  );
  CREATE INDEX pop_inbox_mailbox ON pop_inbox(mailbox, uid);

  CREATE TABLE pop_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_check_at INTEGER NOT NULL,  -- start of the last check (scheduled or Check Now)
    outcome_json TEXT NOT NULL       -- its outcome and masked transcript
  );
  `,
  `
  -- Every grant, not only the device code: how the token was obtained (client credentials can simply
  -- be asked again), what kind of authorization is pending, and the hashed state of a browser redirect.
  ALTER TABLE credentials ADD COLUMN grant_type TEXT NOT NULL DEFAULT 'device_code';
  ALTER TABLE credentials ADD COLUMN pending_kind TEXT;
  ALTER TABLE credentials ADD COLUMN pending_state_hash TEXT;
  CREATE UNIQUE INDEX credentials_pending_state ON credentials(pending_state_hash) WHERE pending_state_hash IS NOT NULL;
  `,
  `
  -- The printer's device status (firmware bridge): toner low, paper jam, service call. A condition is
  -- active until a 'cleared' event (which is recorded too) or a newer event of the same kind.
  CREATE TABLE device_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,              -- toner_low | paper_jam | service_call | cleared
    detail TEXT,
    at INTEGER NOT NULL,             -- ms since epoch
    cleared_at INTEGER,              -- NULL while active
    alert_job_id INTEGER             -- the E-mail Alert queued for it, if any
  );
  CREATE INDEX device_events_active ON device_events(cleared_at);
  `,
  `
  -- Outbox attachments live in files under <data dir>/outbox/ (a 20 MB scan is streamed, never held
  -- whole in memory or in SQLite); the row names its file. content stays only for rows queued before
  -- this step: the outbox moves them to files at start (SQL cannot write files).
  CREATE TABLE outbox_attachments_v2 (
    job_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    file TEXT,                       -- name in <data dir>/outbox/
    size INTEGER,                    -- bytes
    content BLOB,                    -- legacy rows only, NULL once moved to a file
    PRIMARY KEY (job_id, idx),
    CHECK (file IS NOT NULL OR content IS NOT NULL)
  );
  INSERT INTO outbox_attachments_v2 (job_id, idx, filename, content_type, size, content)
    SELECT job_id, idx, filename, content_type, length(content), content FROM outbox_attachments;
  DROP TABLE outbox_attachments;
  ALTER TABLE outbox_attachments_v2 RENAME TO outbox_attachments;
  `,
  `
  -- Token care (issue 11): obtained_at is renewed with every access token, so the grant's own start
  -- (the sign-in), its last renewal and how many there were are kept apart, with the end of the refresh
  -- token when the provider says it (refresh_token_expires_in). Notifications sent, once per cause.
  ALTER TABLE credentials ADD COLUMN grant_at INTEGER;
  ALTER TABLE credentials ADD COLUMN renewed_at INTEGER;
  ALTER TABLE credentials ADD COLUMN renewals INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE credentials ADD COLUMN refresh_expires_at INTEGER;
  UPDATE credentials SET grant_at = obtained_at;
  CREATE TABLE token_notifications (
    cause TEXT PRIMARY KEY,          -- what was told, e.g. "invalid:<provider id>:<account>:<grant_at>"
    sent_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  -- Facts about the device's own storage (one row per fact): the device key's check value (tells at
  -- start whether device.key is the one the sealed secrets were sealed with), a recovery notice.
  CREATE TABLE device_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );

  -- Secrets sealed under a device key this device no longer has (device.key lost or replaced): kept,
  -- not deleted, so restoring the old key file can still open them; the live columns no longer hold them.
  CREATE TABLE retired_secrets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,            -- provider | settings | credential
    ref TEXT NOT NULL,               -- provider id, settings page, or "<provider id>/<account>"
    field TEXT NOT NULL,             -- client_secret, a settings field name, access_token ...
    label TEXT NOT NULL,             -- what the admin knows it by (provider name, account)
    sealed TEXT NOT NULL,
    key_check TEXT,                  -- the check value of the key it was sealed with, when known
    retired_at INTEGER NOT NULL
  );
  `,
];
