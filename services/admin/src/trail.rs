//! Every `admin` command is audited with the operator's account and host
//! (HIPAA 164.312(b)): a `started` row before it touches anything, so that
//! a command that dies half-way has left a trace, then a row with its
//! outcome, both under one run id. A command whose first row cannot be
//! written does not run; one whose outcome cannot be written fails.

use shared::audit::{self, Action, Operator};
use sqlx::PgPool;
use uuid::Uuid;

/// The audit rows of one command run.
pub struct Trail {
    db: PgPool,
    action: Action,
    run_id: Uuid,
    patient_id: Option<Uuid>,
    operator: Operator,
}

impl Trail {
    /// Writes the `started` row of `action` (about `patient_id`, for a
    /// command about one patient): nothing may run before it.
    pub async fn start(
        db: &PgPool,
        action: Action,
        patient_id: Option<Uuid>,
        operator: Operator,
    ) -> sqlx::Result<Self> {
        let trail = Self {
            db: db.clone(),
            action,
            run_id: Uuid::new_v4(),
            patient_id,
            operator,
        };
        trail.write("started").await?;
        Ok(trail)
    }

    /// Writes how the command ended (`success`, `failed`, ...).
    pub async fn finish(self, outcome: &'static str) -> sqlx::Result<()> {
        self.write(outcome).await
    }

    async fn write(&self, outcome: &'static str) -> sqlx::Result<()> {
        audit::record_operator(
            &self.db,
            self.action,
            outcome,
            self.run_id,
            self.patient_id,
            &self.operator,
        )
        .await
    }
}
