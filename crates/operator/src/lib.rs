//! cache-operator: the controllers and the commands of the `cache-operator` binary.

pub mod commands;
