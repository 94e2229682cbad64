//! `POST /api/v1/patient/login`: a short-lived JWT for the right password.
//! Unknown emails and wrong passwords look the same, down to the time they
//! take; five failures for one email within the window lock it out.

use serde::{Deserialize, Serialize};
use shared::{
    audit::{Action, Entry},
    validation::FieldErrors,
};
use utoipa::ToSchema;
use uuid::Uuid;

use axum::extract::State;

use crate::{
    accounts::{self, Attempt},
    error::ApiError,
    extract::{ClientAddr, RequestBody, Text, Valid},
    passwords::{DEACTIVATED, LOCKED_OUT},
    sessions::{self, RefreshToken, SessionRef},
    wire::{
        responses::{Internal, JsonBodyErrors, PasswordBusy, TimedOut},
        ErrorBody, Success,
    },
    AppState,
};

const INVALID: &str = "Invalid email or password";
const THROTTLED: &str = "Too many login attempts from this address. Please try again later.";

/// Credentials. Fields other than these are ignored.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "jane.smith@email.com", "password": "SecurePassword123!"}))]
pub struct LoginRequest {
    /// Compared case-insensitively, surrounding spaces ignored.
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Email, min_length = 1, max_length = 254,
        pattern = r"\S", example = "jane.smith@email.com")]
    email: Text,
    #[serde(default)]
    #[schema(value_type = String, required = true, format = Password, min_length = 1, pattern = r"\S",
        example = "SecurePassword123!")]
    password: Text,
}

/// What a login needs: the normalised email and the password as typed.
pub struct Credentials {
    email: String,
    password: String,
}

impl RequestBody for LoginRequest {
    type Valid = Credentials;

    fn validate(self) -> Result<Credentials, FieldErrors> {
        let mut errors = FieldErrors::new();
        let email = self.email.required("email", "Email", &mut errors);
        let password = self.password.required("password", "Password", &mut errors);
        match (email, password) {
            (Some(email), Some(password)) => Ok(Credentials {
                email: email.trim().to_lowercase(),
                password,
            }),
            _ => Err(errors),
        }
    }
}

/// 200 from change-password: a new access token for the session that
/// continues (its earlier ones stopped working). No `Debug`: it holds the
/// token.
#[derive(Serialize, ToSchema)]
pub struct AccessToken {
    /// An HS256 JWT for `Authorization: Bearer` (the `bearer_auth` scheme).
    #[schema(example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl")]
    access_token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds the token is valid for (`JWT_TTL`, 15 minutes by default).
    #[schema(example = 900)]
    expires_in: u64,
    patient_id: Uuid,
}

impl AccessToken {
    /// A fresh access token for `session`.
    pub fn issue(accounts: &crate::Accounts, patient_id: Uuid, session: SessionRef) -> Self {
        Self {
            access_token: accounts
                .jwt
                .issue(patient_id, session, chrono::Utc::now().timestamp()),
            token_type: "Bearer",
            expires_in: accounts.jwt.ttl.as_secs(),
            patient_id,
        }
    }
}

/// 200 from login and from a refresh: an access token and the refresh
/// token that gets the next one. No `Debug`: it holds both tokens.
#[derive(Serialize, ToSchema)]
pub struct SessionTokens {
    #[serde(flatten)]
    access: AccessToken,
    /// Opaque, single use: exchange it at `/api/v1/patient/token/refresh`
    /// for a new access token and a new refresh token. Presenting one that
    /// was already exchanged ends the session.
    #[schema(example = "pT3rA0k6m2nS3x9QeR0d8hWcV5yL1uJ7bZ4fG2iK0oM")]
    refresh_token: String,
    /// Seconds the refresh token is valid for (`REFRESH_TOKEN_TTL`, 30 days
    /// by default).
    #[schema(example = 2592000)]
    refresh_expires_in: u64,
}

impl SessionTokens {
    pub fn issue(
        accounts: &crate::Accounts,
        patient_id: Uuid,
        session: SessionRef,
        refresh: &RefreshToken,
    ) -> Self {
        Self {
            access: AccessToken::issue(accounts, patient_id, session),
            refresh_token: refresh.expose().to_owned(),
            refresh_expires_in: refresh.expires_in(),
        }
    }
}

/// Log in
///
/// Exchanges a patient's email and password for a new session: a
/// short-lived access token (an HS256 JWT) for the `bearer_auth` scheme and
/// a refresh token for the next ones. An unknown email and a wrong
/// password get the same 401, in the same time.
///
/// Before any password is checked: at most `LOGIN_RATE_LIMIT_PER_CLIENT`
/// (20) attempts a minute from one address (429), and at most
/// `PASSWORD_VERIFY_MAX_CONCURRENT` checks at once in the process (503,
/// retry shortly). `LOGIN_MAX_FAILURES` (5) failures for one account from
/// one address within `LOGIN_LOCKOUT_WINDOW` (15 minutes) lock that address
/// out of that account: every attempt from it, even with the right
/// password, gets 429 until the oldest failure leaves the window;
/// `LOGIN_MAX_FAILURES_PER_ACCOUNT` (100) failures in an hour from all
/// addresses lock the account. Attempts are counted as they start, so
/// concurrent guesses cannot pass the limits. A success clears that
/// address's count.
/// Wrong credentials (401), a deactivated account (403) and a lockout (429)
/// are business outcomes a well-formed body can meet.
#[utoipa::path(
    post,
    path = "/api/v1/patient/login",
    tag = "accounts",
    operation_id = "login",
    request_body(content = LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in: an access token and a refresh token",
            body = Success<SessionTokens>),
        JsonBodyErrors,
        (status = 401, description = "Unknown email or wrong password (never says which)",
            body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            example = json!(ApiError::Unauthorized(INVALID).body())),
        (status = 403, description = "The password is right but the account is deactivated",
            body = ErrorBody, example = json!(ApiError::Forbidden(DEACTIVATED).body())),
        (status = 422, description = "`email` or `password` missing, blank or not a string", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("email", "Email is required")).body())),
        (status = 429, description = "Too many attempts from this address, or too many \
            failures for this account from it (or from everywhere): locked out for a while",
            body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds until the lockout ends")),
            examples(
                ("Locked out" = (value = json!(ApiError::TooManyRequests { message: LOCKED_OUT,
                    retry_after: std::time::Duration::from_secs(900) }.body()))),
                ("Throttled" = (value = json!(ApiError::TooManyRequests { message: THROTTLED,
                    retry_after: std::time::Duration::from_secs(3) }.body()))),
            )),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = PasswordBusy),
    )
)]
#[tracing::instrument(name = "login", skip_all)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Valid(Credentials { email, password }): Valid<LoginRequest>,
) -> Result<Success<SessionTokens>, ApiError> {
    let accounts = &state.accounts;
    // Cheap refusals first: nothing below runs bcrypt for a throttled caller.
    let _verifying = crate::passwords::throttle(&state, client, THROTTLED)?;
    let email_key = accounts::email_key(&email);
    let client = client.to_string();
    let audit = |outcome, patient_id| Entry {
        action: Action::Login,
        outcome,
        patient_id,
        request_id: None,
        client_addr: Some(&client),
    };
    let settings = &accounts.config;
    let lockout = settings.lockout();
    let failures = match accounts::begin_attempt(&state.db, &email_key, &client, &lockout).await? {
        Attempt::Allowed { failures } => failures,
        Attempt::Locked {
            until,
            account_wide,
        } => {
            let outcome = if account_wide {
                "locked_out_account"
            } else {
                "locked_out"
            };
            state.audit.record(&audit(outcome, None)).await?;
            let retry_after = (until - chrono::Utc::now()).to_std().unwrap_or_default();
            return Err(ApiError::TooManyRequests {
                message: LOCKED_OUT,
                retry_after,
            });
        }
    };

    let record = accounts::find_login(&state.db, &email).await?;
    // Unknown emails are checked against a dummy hash of the same cost, so
    // both failures take the time of one bcrypt verification.
    let matches = accounts
        .passwords
        .verify(&password, record.as_ref().map(|r| r.password_hash.as_str()))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let record = match record {
        Some(record) if matches => record,
        other => {
            // The failure was recorded before the check; this one may have
            // been the last this address gets.
            let outcome = if failures >= settings.login_max_failures {
                "invalid_credentials_locked_out"
            } else {
                "invalid_credentials"
            };
            state
                .audit
                .record(&audit(outcome, other.map(|r| r.id)))
                .await?;
            return Err(ApiError::Unauthorized(INVALID));
        }
    };
    accounts::clear_failures(&state.db, &email_key, &client).await?;
    if !record.is_active {
        state
            .audit
            .record(&audit("deactivated", Some(record.id)))
            .await?;
        return Err(ApiError::Forbidden(DEACTIVATED));
    }
    state
        .audit
        .record(&audit("success", Some(record.id)))
        .await?;
    let Some((session, refresh)) = sessions::open(
        &state.db,
        record.id,
        &record.password_hash,
        accounts.config.refresh_ttl,
    )
    .await?
    else {
        // The password changed while this one was being checked.
        return Err(ApiError::Unauthorized(INVALID));
    };
    tracing::info!(patient_id = %record.id, "login succeeded");
    Ok(Success::new(
        "Login successful",
        SessionTokens::issue(accounts, record.id, session, &refresh),
    ))
}
