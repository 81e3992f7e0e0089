//! What every reconcile shares: clients, cloud clients, the observation cache, events,
//! metrics, timing settings and per-object backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use crate::events::Recorder;

use crate::metrics::Metrics;
use crate::observer::{Observer, ServerlessObserver};

pub use crate::clouds::{AwsClouds, Clouds, ClusterCloud, GcpClouds};

#[derive(Clone, Debug)]
pub struct AccessSettings {
    /// How long an old aws password keeps working after a rotation; must exceed the time a
    /// rewritten Secret takes to reach pods.
    pub password_overlap: Duration,
    /// Lifetime of aws IAM auth tokens (at most 15 minutes).
    pub aws_iam_token_lifetime: Duration,
    /// Lifetime asked of gcp access tokens.
    pub gcp_token_lifetime: Duration,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            password_overlap: Duration::from_secs(600),
            aws_iam_token_lifetime: Duration::from_secs(900),
            gcp_token_lifetime: Duration::from_secs(3600),
        }
    }
}

/// How often things happen.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Re-check of a steady object (drift detection).
    pub resync: Duration,
    /// Re-check while the cloud is working on something.
    pub poll: Duration,
    /// First retry after a transient failure; doubles up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            resync: Duration::from_secs(300),
            poll: Duration::from_secs(10),
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
        }
    }
}

pub struct Context {
    pub client: kube::Client,
    pub clouds: Clouds,
    pub observer: Observer,
    pub serverless: ServerlessObserver,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub timing: Timing,
    pub settings: AccessSettings,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        clouds: Clouds,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        timing: Timing,
        settings: AccessSettings,
    ) -> Self {
        Context {
            observer: Observer::new(clouds.clone()),
            serverless: ServerlessObserver::new(clouds.clone()),
            client,
            clouds,
            recorder,
            metrics,
            timing,
            settings,
            failures: Mutex::default(),
        }
    }

    /// The next retry delay for an object that failed again: exponential with ±20 % jitter so
    /// objects that failed together do not retry together.
    pub fn backoff(&self, key: &str) -> Duration {
        let n = {
            let mut f = self.failures.lock().expect("backoff lock");
            let n = f.entry(key.to_owned()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let exp = self
            .timing
            .base_backoff
            .saturating_mul(1u32 << (n - 1).min(16));
        jitter(exp.min(self.timing.max_backoff), 0.2)
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().expect("backoff lock").remove(key);
    }

    /// The steady-state re-check, spread so that objects do not resync in lockstep.
    pub fn resync(&self) -> Duration {
        jitter(self.timing.resync, 0.1)
    }
}

pub fn jitter(d: Duration, fraction: f64) -> Duration {
    let f = rand::rng().random_range((1.0 - fraction)..=(1.0 + fraction));
    d.mul_f64(f)
}
