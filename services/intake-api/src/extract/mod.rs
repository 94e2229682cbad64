//! What a handler needs, as types in its signature: a JSON body
//! ([`JsonBody`], [`Valid`]), the patient an access token speaks for
//! ([`AuthPatient`]), the caller of a partner route ([`Caller`]) and the
//! client's address ([`ClientAddr`]). Every rejection is an [`ApiError`],
//! so it is answered in the envelope.
//!
//! [`ApiError`]: crate::error::ApiError

mod auth;
mod caller;
mod json;

pub use auth::{AuthPatient, AuthSession, UNAUTHENTICATED};
pub use caller::{Caller, ClientAddr, MaybePartner, Partner};
pub use json::{JsonBody, RequestBody, Text, Valid};

/// The message of a 429 from a per-caller rate limit.
pub const RATE_LIMITED: &str = "Too many requests. Please slow down.";
