//! Where intake-api's audit rows go: `audit_log` in Postgres, or, for the
//! in-process tests, a list in memory. Every row is written before the
//! answer it records leaves: if it cannot be written, the request fails
//! with 503 (HIPAA 164.312(b): no access without its trace).

use std::sync::{Arc, Mutex, PoisonError};

use shared::audit::{self, Entry};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;

#[derive(Clone)]
pub struct AuditTrail(Sink);

#[derive(Clone)]
enum Sink {
    Postgres(PgPool),
    Memory(Arc<Mutex<Vec<Recorded>>>),
}

/// A row as the memory trail keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub action: &'static str,
    pub outcome: &'static str,
    pub patient_id: Option<Uuid>,
    pub client_addr: Option<String>,
}

impl AuditTrail {
    pub fn postgres(db: PgPool) -> Self {
        Self(Sink::Postgres(db))
    }

    /// A trail in memory, and a handle to read it (tests).
    pub fn memory() -> (Self, Arc<Mutex<Vec<Recorded>>>) {
        let rows = Arc::default();
        (Self(Sink::Memory(Arc::clone(&rows))), rows)
    }

    /// Writes the row, or fails the request: 503, retry later.
    pub async fn record(&self, entry: &Entry<'_>) -> Result<(), ApiError> {
        match &self.0 {
            Sink::Postgres(db) => audit::record(db, entry).await.map_err(|e| {
                ApiError::Unavailable(anyhow::Error::new(e).context("the audit trail"))
            }),
            Sink::Memory(rows) => {
                rows.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(Recorded {
                        action: entry.action.as_str(),
                        outcome: entry.outcome,
                        patient_id: entry.patient_id,
                        client_addr: entry.client_addr.map(str::to_owned),
                    });
                Ok(())
            }
        }
    }
}
