//! Accepting a registration: record it as pending, publish it sealed and
//! persistent, and wait for the broker's confirm. Only then is it accepted;
//! if the broker never confirms, the request is marked failed, never left
//! looking pending.
//!
//! When the broker refuses a message because the request queue is at its
//! bound, registrations are refused at once for a short while ([`SHED_FOR`]),
//! before anything is recorded or published: a flood past the bound costs
//! one refused publish and one failed row per [`SHED_FOR`], not one each.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::Context;
use shared::{
    broker::BrokerError,
    domain::RegistrationBody,
    messages::{registration_context, RegistrationRequested, RegistrationRequestedV1},
};
use uuid::Uuid;

use crate::{error::ApiError, extract::Caller, requests, AppState};

/// How long a full request queue refuses new registrations outright. Well
/// under the `Retry-After` of a 503, so clients that honour it lose nothing.
pub const SHED_FOR: Duration = Duration::from_secs(1);

/// Until when the request queue is taken to be full.
pub struct FullQueue {
    epoch: Instant,
    /// Nanoseconds after `epoch`; 0: not full.
    until: AtomicU64,
}

impl Default for FullQueue {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            until: AtomicU64::new(0),
        }
    }
}

impl FullQueue {
    fn nanos_now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.nanos_now() < self.until.load(Ordering::Relaxed)
    }

    pub(crate) fn refused(&self) {
        let until = self
            .nanos_now()
            .saturating_add(u64::try_from(SHED_FOR.as_nanos()).unwrap_or(u64::MAX));
        self.until.fetch_max(until, Ordering::Relaxed);
    }
}

pub async fn accept(
    state: &AppState,
    body: &RegistrationBody,
    caller: &Caller,
    request_id: Uuid,
) -> Result<(), ApiError> {
    if state.full_queue.is_full() {
        return Err(ApiError::Overloaded);
    }
    state
        .recorder
        .insert_pending(
            request_id,
            caller.client.to_string(),
            caller.partner.map(|p| p.0),
        )
        .await
        .context("recording a registration request")
        .map_err(ApiError::Unavailable)?;
    let message = RegistrationRequested::V1(RegistrationRequestedV1 {
        request_id,
        submitted_at: chrono::Utc::now(),
        registration: state
            .keyring
            .seal_json(body, &registration_context(request_id)),
    });
    let published = state.broker.publish_message(&message).await;
    if let Err(e) = published {
        if let Err(db_err) = requests::mark_not_accepted(&state.db, request_id).await {
            tracing::error!(error = %db_err, "could not mark an unaccepted request as failed");
        }
        return Err(match e {
            BrokerError::Encode(e) => ApiError::Internal(e.into()),
            BrokerError::Nacked => {
                state.full_queue.refused();
                ApiError::Overloaded
            }
            e => ApiError::Unavailable(e.into()),
        });
    }
    tracing::info!("registration accepted");
    Ok(())
}
