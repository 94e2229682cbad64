//! `GET /api/v1/patient/registration-batches/{batch_id}`: a batch's counts
//! by status, and its items a page at a time, in the order sent.

use axum::extract::{Path, Query, State};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    audit::{Action, Entry},
    validation::FieldErrors,
};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{request_url, MAX_ITEMS};
use crate::{
    batches::{self, ItemState, Summary},
    error::ApiError,
    extract::{ClientAddr, Partner},
    wire::{
        responses::{Internal, TimedOut, Unavailable},
        ErrorBody, Success,
    },
    AppState,
};

const NOT_FOUND: &str = "Registration batch not found";
pub const DEFAULT_LIMIT: i64 = 100;

/// The page of items wanted.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` from the previous page; absent for the first.
    #[param(max_length = 100)]
    cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// Where a page starts: after this item's position in the batch.
fn encode_cursor(position: i32) -> String {
    URL_SAFE_NO_PAD.encode(format!("item:{position}"))
}

fn decode_cursor(raw: &str) -> Option<i32> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw.trim()).ok()?).ok()?;
    let position: i32 = text.strip_prefix("item:")?.parse().ok()?;
    (0..MAX_ITEMS as i32)
        .contains(&position)
        .then_some(position)
}

impl PageQuery {
    /// The position to start after and the page size, or every bad
    /// parameter at once.
    fn validate(self) -> Result<(Option<i32>, i64), FieldErrors> {
        let mut errors = FieldErrors::new();
        let after = self.cursor.and_then(|raw| {
            let cursor = decode_cursor(&raw);
            if cursor.is_none() {
                errors.add("cursor", "Cursor is not one this API returned");
            }
            cursor
        });
        let max = MAX_ITEMS as i64;
        let limit = match self.limit.map(|l| l.trim().parse::<i64>()) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=max).contains(&n) => n,
            Some(_) => {
                errors.add("limit", format!("Limit must be an integer from 1 to {max}"));
                DEFAULT_LIMIT
            }
        };
        if errors.is_empty() {
            Ok((after, limit))
        } else {
            Err(errors)
        }
    }
}

/// A batch: its counts by status, and a page of its items.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchStatus {
    batch_id: Uuid,
    created_at: DateTime<Utc>,
    /// Items in the batch, valid or not.
    total: u32,
    counts: Counts,
    items: Vec<BatchItem>,
    /// Fetches the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    next_cursor: Option<String>,
}

/// Items by status: the accepted ones as their requests stand, and those
/// answered inline (`invalid`). They add up to `total`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Counts {
    pending: u32,
    completed: u32,
    rejected: u32,
    failed: u32,
    invalid: u32,
}

/// Where an item is: its request's status, or `invalid` (answered inline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Pending,
    Completed,
    Rejected,
    Failed,
    Invalid,
}

/// One item: `request_id` and `status_url` when it was accepted; `errors`
/// when it was invalid, or its registration was rejected.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItem {
    #[schema(example = "row-17")]
    client_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    request_id: Option<Uuid>,
    status: ItemStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(
        nullable = false,
        example = "/api/v1/patient/registrations/0b6f1c7e-8d1a-4a53-9d3e-2f1f5a9c7b10"
    )]
    status_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    errors: Option<FieldErrors>,
}

impl From<ItemState> for BatchItem {
    fn from(item: ItemState) -> Self {
        let status = match (item.request_id, item.status.as_deref()) {
            (None, _) => ItemStatus::Invalid,
            (Some(_), Some("completed")) => ItemStatus::Completed,
            (Some(_), Some("rejected")) => ItemStatus::Rejected,
            (Some(_), Some("failed")) => ItemStatus::Failed,
            (Some(_), _) => ItemStatus::Pending,
        };
        Self {
            client_ref: item.client_ref,
            request_id: item.request_id,
            status,
            status_url: item.request_id.map(request_url),
            errors: item.errors.map(|e| e.0),
        }
    }
}

fn counts(summary: &Summary) -> Counts {
    let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    Counts {
        pending: n(summary.pending),
        completed: n(summary.completed),
        rejected: n(summary.rejected),
        failed: n(summary.failed),
        invalid: n(summary.invalid),
    }
}

/// Follow a registration batch
///
/// The calling partner's batch (another partner's, or an unknown id, is
/// the same 404): how many items are in each status, and the items in the
/// order they were sent, a page at a time (follow `next_cursor` until it is
/// absent). Ids, status and field errors only: read a completed patient's
/// contact details at its status URL.
#[utoipa::path(
    get,
    path = "/api/v1/patient/registration-batches/{batch_id}",
    tag = "registration",
    operation_id = "registration_batch",
    params(
        ("batch_id" = String, Path, description = "From the 202's `data.batch_id` \
            (anything else is simply not found)"),
        PageQuery,
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The batch and a page of its items",
            body = Success<BatchStatus>),
        (status = 401, description = "No partner key, or one that is not valid", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`")),
            example = json!(ApiError::Unauthorized("An API key is required").body())),
        (status = 404, description = "No such batch (or another partner's)", body = ErrorBody,
            example = json!(ApiError::NotFound(NOT_FOUND).body())),
        (status = 422, description = "A parameter is not valid (each named)", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("limit",
                "Limit must be an integer from 1 to 500")).body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "registration_batch_read", skip_all)]
pub async fn read(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Partner(partner): Partner,
    Path(raw_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Success<BatchStatus>, ApiError> {
    let (after, limit) = query.validate().map_err(ApiError::Validation)?;
    // An id that is not a UUID cannot exist: the same answer as an unknown one.
    let id = Uuid::parse_str(&raw_id).ok();
    let summary = match id {
        Some(id) => batches::summary(&state.db, id, partner.0).await?,
        None => None,
    };
    let client = client.to_string();
    let entry = Entry {
        action: Action::RegistrationBatchRead,
        outcome: if summary.is_some() {
            "success"
        } else {
            "not_found"
        },
        patient_id: None,
        request_id: id,
        client_addr: Some(&client),
    };
    state.audit.record(&entry).await?;
    let (Some(id), Some(summary)) = (id, summary) else {
        return Err(ApiError::NotFound(NOT_FOUND));
    };
    let mut rows = batches::page(&state.db, id, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| rows.last().map(|last| encode_cursor(last.position)))
        .flatten();
    Ok(Success::data(BatchStatus {
        batch_id: id,
        created_at: summary.created_at,
        total: u32::try_from(summary.total).unwrap_or(0),
        counts: counts(&summary),
        items: rows.into_iter().map(BatchItem::from).collect(),
        next_cursor,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for position in [0, 99, 499] {
            assert_eq!(decode_cursor(&encode_cursor(position)), Some(position));
        }
        for garbage in ["", "x", "aXRlbTo1MDA", &URL_SAFE_NO_PAD.encode("item:-1")] {
            assert_eq!(decode_cursor(garbage), None, "{garbage}");
        }
        assert_eq!(URL_SAFE_NO_PAD.encode("item:500"), "aXRlbTo1MDA");
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let query = PageQuery {
            cursor: Some("???".into()),
            limit: Some("501".into()),
        };
        let errors = query.validate().expect_err("refused");
        let named: Vec<&str> = errors.iter().map(|(field, _)| field).collect();
        assert_eq!(named, ["cursor", "limit"]);
        let fine = PageQuery {
            cursor: None,
            limit: Some(" 500 ".into()),
        };
        assert_eq!(fine.validate().ok(), Some((None, 500)));
    }
}
