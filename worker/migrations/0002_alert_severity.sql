-- How urgent an alert is (from its kind): info, warning or critical.
ALTER TABLE alerts ADD COLUMN severity TEXT NOT NULL DEFAULT 'warning';
