-- Partner intake: API keys for partner systems, and Idempotency-Key
-- records so that a retried POST never registers anyone twice.

CREATE TABLE partners (
    id         UUID PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 100),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A key is shown once, at creation; only its SHA-256 is kept. The prefix
-- (the first characters of the key) lets operators tell keys apart.
CREATE TABLE partner_keys (
    id         UUID PRIMARY KEY,
    partner_id UUID NOT NULL REFERENCES partners (id),
    key_hash   BYTEA NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    prefix     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);

-- Which partner submitted a registration (NULL: a patient on their own).
ALTER TABLE registration_requests ADD COLUMN partner_id UUID REFERENCES partners (id);

-- Idempotency keys, scoped to the partner ('' for unauthenticated
-- clients). 'accepting' while the first request is between its database
-- row and its publisher confirm; then 'accepted' with its request id.
CREATE TABLE idempotency_keys (
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    fingerprint BYTEA NOT NULL CHECK (octet_length(fingerprint) = 32),
    status      TEXT NOT NULL CHECK (status IN ('accepting', 'accepted')),
    request_id  UUID REFERENCES registration_requests (id),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key),
    CHECK ((status = 'accepted') = (request_id IS NOT NULL))
);

-- Expired keys are swept by age.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
