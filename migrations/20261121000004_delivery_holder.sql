-- Which notification-worker process holds a 'sending' claim. A process may
-- take back its own claim at once (after a database error mid-send); a
-- claim of a dead process is taken over when its lease, renewed while the
-- holder is alive, runs out.
ALTER TABLE notification_deliveries ADD COLUMN holder UUID;
