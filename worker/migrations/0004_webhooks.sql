-- Webhook endpoints (worker/src/webhooks.rs) and each delivery attempt to them
-- (worker/src/deliveries.rs). The secret is stored to sign with; the API shows it once.
CREATE TABLE IF NOT EXISTS webhooks (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  events TEXT NOT NULL,          -- JSON array of event type names
  owner TEXT,                    -- NULL: every owner's events
  env TEXT,                      -- NULL: every environment's
  secret TEXT NOT NULL,          -- whsec_...
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  failing_since TEXT             -- set when a delivery exhausted its retries
);
CREATE INDEX IF NOT EXISTS webhooks_owner ON webhooks (owner, env);

-- One row per attempt: a redelivered queue message cannot double a row.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  message_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  webhook_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  at TEXT NOT NULL,
  status INTEGER,
  latency_ms INTEGER NOT NULL,
  error TEXT,
  PRIMARY KEY (message_id, attempt)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_endpoint ON webhook_deliveries (webhook_id, at);
