//! kubesim: a Kubernetes API test server faithful to what kube-rs controllers and kubectl use.
//!
//! Start it in-process with [`Server::start`], or run the `kubesim` binary. Everything is in
//! memory; there is no authentication.

pub mod api;
pub mod builtin;
pub mod controllers;
pub mod crd;
pub mod discovery;
pub mod error;
pub mod http;
pub mod jsonpath;
pub mod managed;
pub mod meta;
pub mod openapi;
pub mod openapi_pb;
pub mod patch;
pub mod protobuf;
pub mod registry;
pub mod schema;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;
pub mod watch;

pub use server::{Config, Running, Server, kubeconfig_yaml};
