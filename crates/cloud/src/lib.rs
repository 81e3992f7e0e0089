//! Memorystore for Redis Cluster and ElastiCache, and the identity services the access
//! controllers need (GCP IAM, ElastiCache users and IAM tokens), each behind a trait per cloud
//! and per concern: [`Clusters`] (one instance per cloud), [`aws::Users`], [`aws::IamTokens`],
//! [`gcp::AccessTokens`] and [`gcp::Grants`]. Scripted fakes of each live in the
//! `cache-operator-cloud-fakes` crate. No Kubernetes types: the controllers translate.

pub mod aws;
pub mod error;
pub mod gcp;
pub mod provider;

pub use error::{CallObserver, CloudError, ErrorClass};
pub use provider::{Clusters, Scope};
