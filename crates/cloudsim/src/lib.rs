//! cloudsim — local stand-ins for the Google Cloud Memorystore for Redis Cluster, Memorystore for Valkey,
//! IAM Credentials, Cloud Resource Manager and OAuth2 APIs and for the AWS ElastiCache Query API, on one
//! HTTP port, with a real `redis-server` (`valkey-server` for Valkey engines) behind every ready cluster
//! whose ACL admits exactly the credentials the cloud would.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = cloudsim::Sim::start(cloudsim::Config::default()).await?;
//! println!("point your clients at {}", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod aws;
mod clock;
mod config;
mod counters;
mod dataplane;
mod faults;
mod gcp;
mod http;
mod sim;
mod storage;
mod util;

pub use config::{
    AwsAccountId, AwsCredential, Config, DEFAULT_AWS_ACCESS_KEY_ID, DEFAULT_AWS_SECRET_ACCESS_KEY,
    DEFAULT_REDIS_SERVER, RedisBacking, Transition, Tunables, parse_duration,
};
pub use faults::{FaultSpec, ThrottleBurst};
pub use sim::{Running, Sim};
