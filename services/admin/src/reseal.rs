//! Key rotation for PHI at rest: every sealed column whose key id is not the
//! current one is opened with its (retired) key and sealed again under the
//! current key, one patient per transaction, so the command can be stopped
//! and run again at any time.

use serde_json::Value;
use shared::{
    crypto::{Keyring, Sealed},
    webhook::Secret,
};
use sqlx::{types::Json, PgPool};
use uuid::Uuid;

const COLUMNS: [&str; 3] = ["emergency_contact", "medical_history", "insurance_info"];

type Row = (
    Uuid,
    Option<Json<Sealed>>,
    Option<Json<Sealed>>,
    Option<Json<Sealed>>,
);

/// Re-seals what needs it; returns how many patients were touched.
pub async fn reseal_patients(db: &PgPool, keyring: &Keyring) -> anyhow::Result<u64> {
    let mut touched = 0;
    let mut after = Uuid::nil();
    loop {
        let batch: Vec<Row> = sqlx::query_as(
            "SELECT id, emergency_contact, medical_history, insurance_info FROM patients \
             WHERE id > $1 ORDER BY id LIMIT 500",
        )
        .bind(after)
        .fetch_all(db)
        .await?;
        let Some(last) = batch.last() else { break };
        after = last.0;
        for (id, a, b, c) in batch {
            let sealed = [a, b, c];
            if sealed.iter().flatten().all(|Json(s)| keyring.is_current(s)) {
                continue;
            }
            let mut tx = db.begin().await?;
            for (column, value) in COLUMNS.iter().zip(sealed) {
                let Some(Json(old)) = value else { continue };
                let context = shared::patient_phi::context(column, id);
                let plain: Value = keyring.open_json(&old, &context)?;
                let fresh = keyring.seal_json(&plain, &context);
                // The column name comes from COLUMNS, never from input.
                sqlx::query(&format!("UPDATE patients SET {column} = $2 WHERE id = $1"))
                    .bind(id)
                    .bind(Json(fresh))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            touched += 1;
        }
    }
    Ok(touched)
}

/// Re-seals webhook endpoint secrets (and a rotation's previous secret)
/// sealed under a retired key, bound as before to their endpoint's id;
/// returns how many endpoints were touched. Without it, retiring the old
/// key would leave every endpoint's secret unopenable.
pub async fn reseal_webhook_secrets(db: &PgPool, keyring: &Keyring) -> anyhow::Result<u64> {
    let rows: Vec<(Uuid, Json<Sealed>, Option<Json<Sealed>>)> =
        sqlx::query_as("SELECT id, secret, previous_secret FROM webhook_endpoints")
            .fetch_all(db)
            .await?;
    let mut touched = 0;
    for (id, Json(secret), previous) in rows {
        let previous = previous.map(|Json(p)| p);
        if keyring.is_current(&secret) && previous.as_ref().is_none_or(|p| keyring.is_current(p)) {
            continue;
        }
        let reseal = |sealed: &Sealed| -> anyhow::Result<Sealed> {
            Ok(Secret::open(keyring, sealed, id)?.seal(keyring, id))
        };
        let fresh = reseal(&secret)?;
        let fresh_previous = previous.as_ref().map(reseal).transpose()?;
        sqlx::query("UPDATE webhook_endpoints SET secret = $2, previous_secret = $3 WHERE id = $1")
            .bind(id)
            .bind(Json(fresh))
            .bind(fresh_previous.map(Json))
            .execute(db)
            .await?;
        touched += 1;
    }
    Ok(touched)
}
