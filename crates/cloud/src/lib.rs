//! Memorystore for Redis Cluster and ElastiCache behind one [`ClusterProvider`] trait, plus the
//! identity services the access controllers need (GCP IAM, ElastiCache users and IAM tokens).
//! No Kubernetes types: the controllers translate.

pub mod aws;
pub mod error;
pub mod gcp;
pub mod provider;

pub use error::{CallObserver, CloudError, ErrorClass};
pub use provider::{ClusterProvider, Scope};
