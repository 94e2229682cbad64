//! Accepting a registration: record it as pending, publish it sealed and
//! persistent, and wait for the broker's confirm. Only then is it accepted;
//! if the broker never confirms, the request is marked failed, never left
//! looking pending.

use anyhow::Context;
use serde_json::Value;
use shared::{
    broker::{persistent_json, topology, BrokerError},
    messages::{registration_context, RegistrationRequested, RegistrationRequestedV1},
};
use uuid::Uuid;

use crate::{admission::Caller, error::ApiError, requests, AppState};

pub async fn accept(
    state: &AppState,
    body: &Value,
    caller: &Caller,
    request_id: Uuid,
) -> Result<(), ApiError> {
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
    let bytes = serde_json::to_vec(&message)
        .context("encoding a message")
        .map_err(ApiError::Internal)?;
    let properties = persistent_json("registration.requested.v1", request_id, request_id);
    let published = state
        .broker
        .publish(
            topology::REGISTRATION_EXCHANGE,
            topology::REGISTRATION_REQUESTED,
            &bytes,
            properties,
        )
        .await;
    if let Err(e) = published {
        if let Err(db_err) = requests::mark_not_accepted(&state.db, request_id).await {
            tracing::error!(error = %db_err, "could not mark an unaccepted request as failed");
        }
        return Err(match e {
            BrokerError::Nacked => ApiError::Overloaded,
            e => ApiError::Unavailable(e.into()),
        });
    }
    tracing::info!("registration accepted");
    Ok(())
}
