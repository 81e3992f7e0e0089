//! The cache-operator custom resources — `RedisCluster`, `ServerlessCache`, `UserGroup`,
//! `AccessBinding` — and the
//! rules they obey. No I/O: the same rules serve the CRD schema, the controllers and the offline
//! `validate` command.

pub mod binding;
pub mod cluster;
pub mod common;
pub mod condition;
pub mod crds;
pub mod cross_region;
pub mod lifecycle;
pub mod manifest;
pub mod model;
pub mod rules;
pub mod serverless;
pub mod validate;

pub use binding::{AccessBinding, AccessBindingSpec, AccessBindingStatus};
pub use cluster::{RedisCluster, RedisClusterSpec, RedisClusterStatus};
pub use common::Provider;
pub use serverless::{ServerlessCache, ServerlessCacheSpec, ServerlessCacheStatus};
pub use user_group::{UserGroup, UserGroupSpec, UserGroupStatus};
pub use validate::{FieldError, FieldErrors};

pub mod user_group;

/// The API group of all our kinds.
pub const GROUP: &str = "cache-operator.io";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "cache-operator.io/v1alpha1";
