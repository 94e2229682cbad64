//! Sessions: one per login, each with one live refresh token at a time.
//!
//! A refresh token (256 bits from the OS CSPRNG, only its SHA-256 stored)
//! is exchanged once: the exchange marks it rotated and issues the next.
//! Presenting a rotated token again means two parties hold it, so the whole
//! session is revoked (reuse detection, RFC 9700 4.14). Access tokens carry
//! the session's id and generation and are accepted only while the session
//! is live at that generation ([`is_live`]), so a logout, a reuse, a reset
//! or a password change ends them at once, not when they expire.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shared::token::{hash_token, VerificationToken};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// What an access token names: its session and the generation it was
/// issued at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRef {
    pub id: Uuid,
    pub generation: i32,
}

/// Why a session ended (the `revoked_reason` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    Logout,
    /// Past [`MAX_LIVE_SESSIONS`], the oldest give way to a new one.
    Superseded,
    RefreshTokenReuse,
    PasswordReset,
    PasswordChange,
    /// The patient deactivated the account: no session of it goes on.
    Deactivation,
    /// The account's email address changed: every session ends, so a
    /// change confirmed by the wrong hands strands no one signed in.
    EmailChange,
}

impl Revocation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Superseded => "superseded",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::PasswordReset => "password_reset",
            Self::PasswordChange => "password_change",
            Self::Deactivation => "deactivation",
            Self::EmailChange => "email_change",
        }
    }
}

/// A refresh token as issued: the value goes to the client once; its
/// `Debug` never shows it.
pub struct RefreshToken {
    token: VerificationToken,
    pub expires_at: DateTime<Utc>,
}

impl RefreshToken {
    fn generate(ttl: Duration) -> Self {
        Self {
            token: VerificationToken::generate(),
            expires_at: Utc::now()
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
        }
    }

    pub fn expose(&self) -> &str {
        self.token.expose()
    }

    /// Whole seconds from now until it expires.
    pub fn expires_in(&self) -> u64 {
        u64::try_from((self.expires_at - Utc::now()).num_seconds()).unwrap_or(0)
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(***)")
    }
}

async fn insert_refresh_token(
    conn: &mut PgConnection,
    session: Uuid,
    ttl: Duration,
) -> sqlx::Result<RefreshToken> {
    let token = RefreshToken::generate(ttl);
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(token.token.hash().as_slice())
    .bind(session)
    .bind(token.expires_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE sessions SET expires_at = $2 WHERE id = $1")
        .bind(session)
        .bind(token.expires_at)
        .execute(&mut *conn)
        .await?;
    Ok(token)
}

/// Live sessions a patient may hold; a login past it ends the oldest.
pub const MAX_LIVE_SESSIONS: i64 = 20;

/// A new session for a patient who just proved who they are with the
/// password whose hash is `verified_hash`, with its first refresh token.
/// `None` if that is no longer the patient's password (a reset or change
/// committed while it was being checked): no session outlives its password.
pub async fn open(
    db: &PgPool,
    patient_id: Uuid,
    verified_hash: &str,
    ttl: Duration,
) -> sqlx::Result<Option<(SessionRef, RefreshToken)>> {
    let mut tx = db.begin().await?;
    let id = Uuid::new_v4();
    // The patient's row locked: a password change or a deactivation waits
    // for this session to exist (and then revokes it), or this sees the new
    // hash or the inactive account.
    let opened = sqlx::query(
        "INSERT INTO sessions (id, patient_id, expires_at) \
         SELECT $1, id, now() FROM patients \
         WHERE id = $2 AND password_hash = $3 AND is_active FOR UPDATE",
    )
    .bind(id)
    .bind(patient_id)
    .bind(verified_hash)
    .execute(&mut *tx)
    .await?;
    if opened.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3 \
         WHERE id IN (SELECT id FROM sessions WHERE patient_id = $1 AND revoked_at IS NULL \
                      ORDER BY created_at DESC, id OFFSET $2)",
    )
    .bind(patient_id)
    .bind(MAX_LIVE_SESSIONS)
    .bind(Revocation::Superseded.as_str())
    .execute(&mut *tx)
    .await?;
    let token = insert_refresh_token(&mut tx, id, ttl).await?;
    tx.commit().await?;
    Ok(Some((SessionRef { id, generation: 0 }, token)))
}

/// Deletes sessions that ended more than a day ago (their refresh tokens
/// with them) and reset tokens past their expiry by a day.
pub async fn sweep(db: &PgPool) -> sqlx::Result<u64> {
    let sessions = sqlx::query(
        "DELETE FROM sessions WHERE COALESCE(revoked_at, expires_at) < now() - interval '1 day'",
    )
    .execute(db)
    .await?;
    let resets = sqlx::query(
        "DELETE FROM password_reset_tokens WHERE expires_at < now() - interval '1 day'",
    )
    .execute(db)
    .await?;
    Ok(sessions.rows_affected() + resets.rows_affected())
}

/// Whether an access token's session is live at its generation. (A
/// deactivated patient's routes answer 403 for themselves.)
pub async fn is_live(db: &PgPool, patient_id: Uuid, session: SessionRef) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions \
         WHERE id = $1 AND patient_id = $2 AND generation = $3 AND revoked_at IS NULL)",
    )
    .bind(session.id)
    .bind(patient_id)
    .bind(session.generation)
    .fetch_one(db)
    .await
}

/// What presenting a refresh token came to.
#[derive(Debug)]
pub enum Refresh {
    /// Exchanged: the session continues with this refresh token.
    Rotated {
        patient_id: Uuid,
        session: SessionRef,
        token: RefreshToken,
    },
    /// Unknown, expired, or of a revoked session (or an inactive patient).
    Refused { patient_id: Option<Uuid> },
    /// Already rotated: its session is revoked now.
    Reused { patient_id: Uuid },
}

/// Exchanges a refresh token, in one transaction with its row and its
/// session's locked, so two concurrent exchanges of one token cannot both
/// succeed: the second sees it rotated, and revokes the session.
pub async fn refresh(db: &PgPool, presented: &str, ttl: Duration) -> sqlx::Result<Refresh> {
    let presented = hash_token(presented);
    let mut tx = db.begin().await?;
    let row: Option<(Uuid, Uuid, i32, bool, bool, bool)> = sqlx::query_as(
        "SELECT s.id, s.patient_id, s.generation, rt.rotated_at IS NOT NULL, \
                s.revoked_at IS NULL AND rt.expires_at > now(), p.is_active \
         FROM refresh_tokens rt \
         JOIN sessions s ON s.id = rt.session_id \
         JOIN patients p ON p.id = s.patient_id \
         WHERE rt.token_hash = $1 \
         FOR UPDATE OF rt, s",
    )
    .bind(presented.as_slice())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, patient_id, generation, rotated, live, active)) = row else {
        return Ok(Refresh::Refused { patient_id: None });
    };
    if rotated {
        revoke_one(&mut tx, id, Revocation::RefreshTokenReuse).await?;
        tx.commit().await?;
        return Ok(Refresh::Reused { patient_id });
    }
    if !live || !active {
        return Ok(Refresh::Refused {
            patient_id: Some(patient_id),
        });
    }
    sqlx::query("UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1")
        .bind(presented.as_slice())
        .execute(&mut *tx)
        .await?;
    let token = insert_refresh_token(&mut tx, id, ttl).await?;
    tx.commit().await?;
    Ok(Refresh::Rotated {
        patient_id,
        session: SessionRef { id, generation },
        token,
    })
}

async fn revoke_one(conn: &mut PgConnection, id: Uuid, why: Revocation) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $2 \
         WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(why.as_str())
    .execute(conn)
    .await
    .map(drop)
}

/// Ends one session (a logout): its refresh token and access tokens stop
/// working at once.
pub async fn revoke(db: &PgPool, id: Uuid, why: Revocation) -> sqlx::Result<()> {
    let mut conn = db.acquire().await?;
    revoke_one(&mut conn, id, why).await
}

/// Ends every live session of a patient but `keep`, inside the caller's
/// transaction (a password reset keeps none).
pub async fn revoke_all(
    conn: &mut PgConnection,
    patient_id: Uuid,
    keep: Option<Uuid>,
    why: Revocation,
) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $3 \
         WHERE patient_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)",
    )
    .bind(patient_id)
    .bind(keep)
    .bind(why.as_str())
    .execute(conn)
    .await
    .map(|done| done.rows_affected())
}

/// Voids the access tokens issued so far in a session that continues: the
/// next ones carry the generation returned. `None` if the session is no
/// longer live at `session`'s generation.
pub async fn next_generation(
    conn: &mut PgConnection,
    session: SessionRef,
) -> sqlx::Result<Option<SessionRef>> {
    let generation: Option<i32> = sqlx::query_scalar(
        "UPDATE sessions SET generation = generation + 1 \
         WHERE id = $1 AND generation = $2 AND revoked_at IS NULL RETURNING generation",
    )
    .bind(session.id)
    .bind(session.generation)
    .fetch_optional(conn)
    .await?;
    Ok(generation.map(|generation| SessionRef {
        id: session.id,
        generation,
    }))
}
