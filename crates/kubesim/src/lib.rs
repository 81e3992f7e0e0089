//! kubesim: a Kubernetes API test server faithful to what kube-rs controllers and kubectl use.

pub mod builtin;
pub mod error;
pub mod registry;
pub mod schema;
pub mod managed;
pub mod meta;
pub mod selector;
pub mod patch;
pub mod store;
pub mod crd;
pub mod api;
pub mod jsonpath;
pub mod discovery;
pub mod openapi;
pub mod table;
