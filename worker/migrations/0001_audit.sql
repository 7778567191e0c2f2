-- Audit events, stored idempotently by event id.
CREATE TABLE IF NOT EXISTS audit_events (
  event_id   TEXT PRIMARY KEY,
  key_id     TEXT,
  hint       TEXT,
  owner      TEXT,
  actor      TEXT,
  action     TEXT NOT NULL,
  ip         TEXT,
  country    TEXT,
  user_agent TEXT,
  time       TEXT NOT NULL,      -- RFC 3339, UTC, milliseconds: sorts as text
  outcome    TEXT NOT NULL,
  status     INTEGER
);
CREATE INDEX IF NOT EXISTS audit_events_key_time ON audit_events (key_id, time);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (time);

-- Alerts raised by the misuse rules and the daily checks; ids are deterministic so a
-- retried batch or a second cron run never doubles one.
CREATE TABLE IF NOT EXISTS alerts (
  alert_id TEXT PRIMARY KEY,
  kind     TEXT NOT NULL,
  key_id   TEXT,
  hint     TEXT,
  owner    TEXT,
  event_id TEXT,
  detail   TEXT NOT NULL,
  time     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time);
