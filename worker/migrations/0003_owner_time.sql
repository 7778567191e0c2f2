-- Reading one owner's events (a bounded key's audit trail, /v1/usage?owner=) by time.
CREATE INDEX IF NOT EXISTS audit_events_owner_time ON audit_events (owner, time);
