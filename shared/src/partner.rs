//! Partner API keys: 256 random bits, shown once as `pk_<base64url>`, kept
//! only as a SHA-256 hash.

use sqlx::PgPool;
use uuid::Uuid;

use crate::token::{hash_token, random_256_bits};

/// A partner's identity once its key checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartnerId(pub Uuid);

/// A new key: the only time its text exists.
pub struct NewKey {
    pub id: Uuid,
    pub key: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The characters of a key shown in listings.
fn prefix(key: &str) -> String {
    key.chars().take(10).collect()
}

/// Creates the partner if needed, and a key for it.
pub async fn create_key(db: &PgPool, partner: &str) -> sqlx::Result<NewKey> {
    let key = format!("pk_{}", random_256_bits());
    let mut tx = db.begin().await?;
    let partner_id: Uuid = sqlx::query_scalar(
        "INSERT INTO partners (id, name) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(partner)
    .fetch_one(&mut *tx)
    .await?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO partner_keys (id, partner_id, key_hash, prefix) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(partner_id)
    .bind(hash_token(&key).as_slice())
    .bind(prefix(&key))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(NewKey { id, key })
}

/// The partner a presented key belongs to, if it is known and not revoked.
pub async fn authenticate(db: &PgPool, key: &str) -> sqlx::Result<Option<PartnerId>> {
    let partner: Option<Uuid> = sqlx::query_scalar(
        "SELECT partner_id FROM partner_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash_token(key.trim()).as_slice())
    .fetch_optional(db)
    .await?;
    Ok(partner.map(PartnerId))
}

/// One row of `admin partner list`.
#[derive(Debug, sqlx::FromRow)]
pub struct KeyListing {
    pub id: Uuid,
    pub partner: String,
    pub prefix: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn list_keys(db: &PgPool) -> sqlx::Result<Vec<KeyListing>> {
    sqlx::query_as(
        "SELECT k.id, p.name AS partner, k.prefix, k.created_at, k.revoked_at \
         FROM partner_keys k JOIN partners p ON p.id = k.partner_id ORDER BY p.name, k.created_at",
    )
    .fetch_all(db)
    .await
}

/// Revokes a key by id; false when there is no such active key.
pub async fn revoke_key(db: &PgPool, id: Uuid) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE partner_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
