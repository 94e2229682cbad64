//! Operator commands, as a library so that tests can call them.

pub mod dlq;
pub mod reseal;
