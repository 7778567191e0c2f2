-- Which keys' `key.expiring` event was sent, for which expiry (worker/src/cron.rs): the
-- daily cron announces each key once; a key whose expiry is changed is announced again.
CREATE TABLE IF NOT EXISTS expiring_notices (
  key_id TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  announced_at TEXT NOT NULL,
  PRIMARY KEY (key_id, expires_at)
);
