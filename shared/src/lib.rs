//! What every service of the patient-registration system speaks: the domain
//! types and their validation, the message contracts, configuration, and the
//! Postgres and RabbitMQ plumbing.

pub mod audit;
pub mod broker;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod health;
pub mod messages;
pub mod metrics;
pub mod partner;
pub mod password;
pub mod patient_phi;
pub mod phone_code;
pub mod retry;
pub mod shutdown;
pub mod telemetry;
pub mod token;
pub mod transport;
pub mod validation;
pub mod webhook;
pub mod webhook_endpoints;
pub mod worker;
