//! The system tests: one test binary (so one link and one run), a module
//! per area. Each test starts a [`e2e::Stack`] of its own, with its own
//! database and vhost, so they run in parallel threads (libtest's default:
//! one per core); none restarts a server the others use, which is why the
//! fault scenarios are a binary of their own (`faults.rs`).
//!
//! - `pipeline`: a registration from intake to the verification email;
//! - `contract`: concurrency, the synchronous mode, bad input;
//! - `accounts`: verify, login, profile, lockout, resend;
//! - `phi`: sealed at rest and on the broker, out of the logs, audited;
//! - `partners`: API keys, rate limits, Idempotency-Key, replays;
//! - `observability`: backpressure, metrics, logs;
//! - `docs`: Swagger UI in Chromium, CORS;
//! - `schema`: Schemathesis generates requests from the OpenAPI document;
//! - `login`: the login's defences (timing, throttles, lockout);
//! - `hostile`: connections that never finish, an unwritable audit trail;
//! - `journey`: forgot and reset password, refresh, logout, change password;
//! - `pages`: the email links' pages in Chromium;
//! - `partner_reads`: status URLs per partner, contact expiry, the partner's listing;
//! - `batches`: registration batches, answered item by item, replayed, completed;
//! - `transport`: over TLS only, through PgBouncer, plaintext refused in production.

#![allow(clippy::unwrap_used)]

mod accounts;
mod batches;
mod contract;
mod docs;
mod hostile;
mod journey;
mod login;
mod observability;
mod pages;
mod partner_reads;
mod partners;
mod phi;
mod phone_verification;
mod pipeline;
mod profile_changes;
mod schema;
mod transport;
mod webhook_endpoints;
mod webhooks;
