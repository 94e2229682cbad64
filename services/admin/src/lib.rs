//! Operator commands, as a library so that tests can call them.

pub mod command;
pub mod config;
pub mod dlq;
pub mod operator;
pub mod patient;
pub mod reseal;
pub mod trail;
pub mod webhook;
