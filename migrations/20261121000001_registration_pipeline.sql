-- The registration pipeline: patients, the registration requests that
-- clients poll, and what the notification worker needs to send exactly one
-- verification email per patient.
--
-- The database guards its own invariants (formats, enums, uniqueness) so
-- that no code path, present or future, can store a patient Rust would
-- have refused.

-- Keeps updated_at current whatever code path writes a row.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE patients (
    id              UUID PRIMARY KEY,
    first_name      TEXT NOT NULL CHECK (char_length(first_name) BETWEEN 2 AND 50 AND first_name = btrim(first_name)),
    last_name       TEXT NOT NULL CHECK (char_length(last_name) BETWEEN 2 AND 50 AND last_name = btrim(last_name)),
    -- Stored trimmed and lowercased; unique through patients_email_key.
    email           TEXT NOT NULL CHECK (email = lower(btrim(email)) AND char_length(email) BETWEEN 3 AND 254),
    -- Normalised E.164 with its leading '+'.
    phone_number    TEXT NOT NULL CHECK (phone_number ~ '^\+[1-9][0-9]{7,14}$'),
    -- Only ever a bcrypt hash ($2a$/$2b$/$2y$), never a password.
    password_hash   TEXT NOT NULL CHECK (password_hash ~ '^\$2[aby]\$[0-9]{2}\$.{53}$'),
    date_of_birth   DATE NOT NULL CHECK (date_of_birth > DATE '1850-01-01'),
    gender          TEXT NOT NULL CHECK (gender IN ('male', 'female', 'other', 'prefer_not_to_say')),
    address_street  TEXT NOT NULL CHECK (char_length(address_street) BETWEEN 1 AND 200),
    address_city    TEXT NOT NULL CHECK (char_length(address_city) BETWEEN 1 AND 100),
    address_state   TEXT NOT NULL CHECK (char_length(address_state) BETWEEN 1 AND 50),
    address_zip     TEXT NOT NULL CHECK (char_length(address_zip) BETWEEN 3 AND 10),
    address_country TEXT NOT NULL DEFAULT 'US' CHECK (address_country ~ '^[A-Z]{2}$'),
    -- PHI sealed by the application (XChaCha20-Poly1305, {"kid","nonce","ct"}):
    -- Postgres, its backups and its logs never hold these in plain text.
    emergency_contact JSONB CHECK (emergency_contact IS NULL OR emergency_contact ?& ARRAY['kid', 'nonce', 'ct']),
    medical_history   JSONB CHECK (medical_history IS NULL OR medical_history ?& ARRAY['kid', 'nonce', 'ct']),
    insurance_info    JSONB CHECK (insurance_info IS NULL OR insurance_info ?& ARRAY['kid', 'nonce', 'ct']),
    email_verified  BOOLEAN NOT NULL DEFAULT false,
    phone_verified  BOOLEAN NOT NULL DEFAULT false,
    is_active       BOOLEAN NOT NULL DEFAULT true,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The last line of defence against two concurrent registrations with the
-- same email or phone: the worker maps these names to field errors.
CREATE UNIQUE INDEX patients_email_key ON patients (lower(email));
CREATE UNIQUE INDEX patients_phone_number_key ON patients (phone_number);

CREATE TRIGGER patients_updated_at BEFORE UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row per accepted POST /register: what status URLs report. It holds no
-- PHI: the registration itself travels sealed on the broker.
CREATE TABLE registration_requests (
    id             UUID PRIMARY KEY,
    status         TEXT NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'completed', 'rejected', 'failed')),
    patient_id     UUID REFERENCES patients (id),
    -- field -> [messages], exactly as a 422 would carry them.
    errors         JSONB,
    -- Why a request failed (never PHI): shown to operators, not clients.
    failure_reason TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((status = 'completed') = (patient_id IS NOT NULL)),
    CHECK ((status = 'rejected') = (errors IS NOT NULL))
);

-- At most one request completes a patient.
CREATE UNIQUE INDEX registration_requests_patient_key ON registration_requests (patient_id);

CREATE TRIGGER registration_requests_updated_at BEFORE UPDATE ON registration_requests
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Wakes anyone waiting on a request's outcome (LISTEN registration_status).
CREATE FUNCTION notify_registration_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status <> OLD.status THEN
        PERFORM pg_notify('registration_status', NEW.id::text);
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER registration_requests_notify AFTER UPDATE ON registration_requests
    FOR EACH ROW EXECUTE FUNCTION notify_registration_status();

-- Email verification tokens: only the SHA-256 of a token is stored, so a
-- database leak yields no usable token.
CREATE TABLE email_verification_tokens (
    token_hash  BYTEA PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    patient_id  UUID NOT NULL REFERENCES patients (id),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX email_verification_tokens_patient ON email_verification_tokens (patient_id);

-- One row per event the notification worker handles. A worker claims the
-- event ('sending') before it emails, so a twin delivery of the same event
-- waits instead of sending again; a claim whose holder died expires after a
-- lease and can be taken over. 'sent' is final: redeliveries send nothing.
CREATE TABLE notification_deliveries (
    event_id    UUID PRIMARY KEY,
    patient_id  UUID NOT NULL REFERENCES patients (id),
    kind        TEXT NOT NULL CHECK (kind IN ('email_verification')),
    status      TEXT NOT NULL CHECK (status IN ('sending', 'sent')),
    claimed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at     TIMESTAMPTZ,
    CHECK ((status = 'sent') = (sent_at IS NOT NULL))
);
