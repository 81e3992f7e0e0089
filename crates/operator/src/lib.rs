//! cache-operator: the controllers and the commands of the `cache-operator` binary.

pub mod clouds;
pub mod commands;
pub mod context;
pub mod controller;
pub mod events;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod observer;
pub mod rbac;
pub mod run;
pub mod telemetry;
