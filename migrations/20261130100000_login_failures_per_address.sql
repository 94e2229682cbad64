-- Login failures are counted per (account, client address): a storm of
-- wrong passwords from one address locks that address out of that account,
-- not the patient everywhere; an account-wide ceiling across all addresses
-- (LOGIN_MAX_FAILURES_PER_ACCOUNT per hour) is the backstop. Rows written
-- before this have no address ('') and count toward the ceiling only.
--
-- A row is written before the password is checked (a reservation) and
-- stays if the check fails, so concurrent guesses are counted as they
-- start; intake-api serialises the count-then-insert per account with an
-- advisory lock on the email's hash.
ALTER TABLE login_failures ADD COLUMN client_addr TEXT NOT NULL DEFAULT '';

CREATE INDEX login_failures_by_email_and_address
    ON login_failures (email_hash, client_addr, attempted_at DESC);
