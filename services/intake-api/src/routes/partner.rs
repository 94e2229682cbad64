//! `GET /api/v1/partner/registrations`: a partner's own registrations,
//! newest first, a page at a time.

use axum::extract::{rejection::QueryRejection, Query, State};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    audit::{Action, Entry},
    validation::FieldErrors,
};
use sqlx::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::{
    error::ApiError,
    extract::{ClientAddr, Partner},
    requests::RequestState,
    wire::{
        responses::{Internal, TimedOut, Unavailable},
        ErrorBody, Success,
    },
    AppState,
};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;
const STATUSES: [&str; 4] = ["pending", "completed", "rejected", "failed"];

/// The listing's filters and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only requests in this state.
    #[param(value_type = Option<RequestState>)]
    status: Option<String>,
    /// Only requests submitted at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// Only requests submitted before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<String>,
    /// `next_cursor` from the previous page; absent for the first.
    #[param(max_length = 100)]
    cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// Where a page ends: the last item's `created_at` (microseconds) and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    created_at: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}:{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    fn decode(raw: &str) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw.trim()).ok()?).ok()?;
        let (micros, id) = text.split_once(':')?;
        Some(Self {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

struct Filters {
    status: Option<&'static str>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    after: Option<Cursor>,
    limit: i64,
}

impl ListQuery {
    /// Every bad parameter at once, each under its own name.
    fn validate(self) -> Result<Filters, FieldErrors> {
        // An empty value (`?cursor=`) is no value: the first page, say.
        let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let Self {
            status,
            since,
            until,
            cursor,
            limit,
        } = self;
        let (status, since, until, cursor, limit) = (
            given(status),
            given(since),
            given(until),
            given(cursor),
            given(limit),
        );
        let mut errors = FieldErrors::new();
        let status = status.and_then(|s| {
            let found = STATUSES.iter().copied().find(|known| *known == s.trim());
            if found.is_none() {
                errors.add(
                    "status",
                    "Status must be one of pending, completed, rejected, failed",
                );
            }
            found
        });
        let mut instant = |name: &str, raw: Option<String>| {
            raw.and_then(|raw| match DateTime::parse_from_rfc3339(raw.trim()) {
                Ok(at) => Some(at.with_timezone(&Utc)),
                Err(_) => {
                    errors.add(
                        name,
                        format!("{name} must be an RFC 3339 date-time, e.g. 2026-11-30T08:00:00Z"),
                    );
                    None
                }
            })
        };
        let since = instant("since", since);
        let until = instant("until", until);
        let after = cursor.and_then(|raw| {
            let cursor = Cursor::decode(&raw);
            if cursor.is_none() {
                errors.add("cursor", "Cursor is not one this API returned");
            }
            cursor
        });
        let limit = match limit.map(|l| l.trim().parse::<i64>()) {
            None => DEFAULT_LIMIT,
            Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
            Some(_) => {
                errors.add(
                    "limit",
                    format!("Limit must be an integer from 1 to {MAX_LIMIT}"),
                );
                DEFAULT_LIMIT
            }
        };
        if errors.is_empty() {
            Ok(Filters {
                status,
                since,
                until,
                after,
                limit,
            })
        } else {
            Err(errors)
        }
    }
}

/// One of the partner's registrations: ids and status, never contact
/// details (the status URL has them, for a while).
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationItem {
    request_id: Uuid,
    status: RequestState,
    #[schema(example = "/api/v1/patient/registrations/fbd4c6dd-f3ca-4d7f-bd97-a12d9294238a")]
    status_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    patient_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    errors: Option<FieldErrors>,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    settled_at: Option<DateTime<Utc>>,
}

/// A page: `next_cursor` fetches the next one (older items); absent on the
/// last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationPage {
    items: Vec<RegistrationItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    next_cursor: Option<String>,
}

type Row = (
    Uuid,
    String,
    Option<Uuid>,
    Option<sqlx::types::Json<FieldErrors>>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

async fn page(db: &PgPool, partner: Uuid, f: &Filters) -> sqlx::Result<RegistrationPage> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, status, patient_id, errors, created_at, settled_at FROM registration_requests \
         WHERE partner_id = $1 AND partner_id IS NOT NULL \
           AND ($2::text IS NULL OR status = $2) \
           AND ($3::timestamptz IS NULL OR created_at >= $3) \
           AND ($4::timestamptz IS NULL OR created_at < $4) \
           AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6)) \
         ORDER BY created_at DESC, id DESC LIMIT $7",
    )
    .bind(partner)
    .bind(f.status)
    .bind(f.since)
    .bind(f.until)
    .bind(f.after.map(|c| c.created_at))
    .bind(f.after.map(|c| c.id))
    .bind(f.limit + 1)
    .fetch_all(db)
    .await?;
    let more = rows.len() as i64 > f.limit;
    let items: Vec<RegistrationItem> = rows
        .into_iter()
        .take(f.limit as usize)
        .map(
            |(id, status, patient_id, errors, created_at, settled_at)| RegistrationItem {
                request_id: id,
                status: RequestState::from_column(&status),
                status_url: format!("/api/v1/patient/registrations/{id}"),
                patient_id,
                errors: errors.map(|e| e.0),
                created_at,
                settled_at,
            },
        )
        .collect();
    let next_cursor = more.then(|| items.last()).flatten().map(|last| {
        Cursor {
            created_at: last.created_at,
            id: last.request_id,
        }
        .encode()
    });
    Ok(RegistrationPage { items, next_cursor })
}

/// List the partner's registrations
///
/// The calling partner's own registrations (never another's), newest
/// first, with keyset pagination: follow `next_cursor` until it is absent.
/// Registrations that arrive meanwhile are newer than any page already
/// fetched, so paging neither skips nor repeats an item. Ids and status
/// only: read a completed patient's contact details at its status URL.
#[utoipa::path(
    get,
    path = "/api/v1/partner/registrations",
    tag = "partners",
    operation_id = "partner_registrations",
    params(ListQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of the partner's registrations",
            body = Success<RegistrationPage>),
        (status = 401, description = "No partner key, or one that is not valid", body = ErrorBody,
            example = json!(ApiError::Unauthorized("An API key is required").body())),
        (status = 422, description = "A parameter is not valid (each named)", body = ErrorBody,
            example = json!(ApiError::Validation(FieldErrors::single("limit",
                "Limit must be an integer from 1 to 200")).body())),
        (status = 408, response = TimedOut),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[tracing::instrument(name = "partner_registrations", skip_all)]
pub async fn registrations(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Partner(partner): Partner,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Success<RegistrationPage>, ApiError> {
    // A parameter given twice, say: the envelope, like every other refusal.
    let Query(query) =
        query.map_err(|e| ApiError::Validation(FieldErrors::single("query", e.body_text())))?;
    let filters = query.validate().map_err(ApiError::Validation)?;
    let client = client.to_string();
    state
        .audit
        .record(&Entry {
            action: Action::PartnerRegistrationsList,
            outcome: "success",
            patient_id: None,
            request_id: None,
            client_addr: Some(&client),
        })
        .await?;
    Ok(Success::data(page(&state.db, partner.0, &filters).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_796_023_256_123_456).expect("a time"),
            id: Uuid::from_u128(42),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for garbage in [
            "",
            "x",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12:nope"),
        ] {
            assert_eq!(Cursor::decode(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let query = ListQuery {
            status: Some("done".into()),
            since: Some("yesterday".into()),
            until: Some("2026-11-30T08:00:00Z".into()),
            cursor: Some("???".into()),
            limit: Some("500".into()),
        };
        let errors = query.validate().err().expect("refused");
        let named: Vec<&str> = errors.iter().map(|(field, _)| field).collect();
        assert_eq!(named, ["cursor", "limit", "since", "status"]);
    }
}
