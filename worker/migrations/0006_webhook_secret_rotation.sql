-- A webhook endpoint's previous secret during a rotation's overlap (worker/src/webhooks.rs):
-- until `previous_until`, deliveries are signed with both secrets.
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT;
ALTER TABLE webhooks ADD COLUMN previous_until TEXT;
