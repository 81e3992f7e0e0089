//! Prometheus metrics: reconciles, errors and their duration per kind; cloud calls by API,
//! operation and outcome; seconds until each binding's credential expires; leadership.

use std::sync::atomic::AtomicI64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use cache_operator_cloud::CallObserver;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    /// The pipeline step that failed (`observe`, `apply`, …).
    pub step: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub api: String,
    pub operation: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BindingLabels {
    pub namespace: String,
    pub name: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<KindLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub reconcile_seconds: Family<KindLabels, Histogram>,
    pub cloud_calls: Family<CallLabels, Counter>,
    pub cloud_call_seconds: Family<ApiLabels, Histogram>,
    pub token_expiry_seconds: Family<BindingLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub leader: Gauge<i64, AtomicI64>,
    /// When each binding's credential expires; the gauge is computed from it at scrape time so
    /// that it keeps counting down between reconciles.
    expiries: std::sync::Mutex<std::collections::HashMap<BindingLabels, jiff::Timestamp>>,
    /// Whether a binding still exists (the bindings' cache, once it is complete): a binding has
    /// no finalizer, so no pass sees it go, and its expiry is dropped at the next scrape.
    exists: std::sync::Mutex<Option<ExistsFn>>,
}

type ExistsFn = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cache_operator");
        let reconciles = Family::<KindLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let reconcile_seconds = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        let cloud_calls = Family::<CallLabels, Counter>::default();
        let cloud_call_seconds = Family::<ApiLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        let token_expiry_seconds = Family::default();
        let leader = Gauge::default();
        registry.register("reconciles", "Reconciliations by kind", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciliations by kind, pipeline step and reason",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconciliation",
            reconcile_seconds.clone(),
        );
        registry.register(
            "cloud_calls",
            "Cloud API calls by API, operation and outcome",
            cloud_calls.clone(),
        );
        registry.register(
            "cloud_call_duration_seconds",
            "Cloud API call latency",
            cloud_call_seconds.clone(),
        );
        registry.register(
            "token_expiry_seconds",
            "Seconds until the credential in each AccessBinding's Secret expires",
            token_expiry_seconds.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease",
            leader.clone(),
        );
        Metrics {
            registry,
            reconciles,
            errors,
            reconcile_seconds,
            cloud_calls,
            cloud_call_seconds,
            token_expiry_seconds,
            leader,
            expiries: Default::default(),
            exists: Default::default(),
        }
    }
}

impl Metrics {
    /// Counts the reconcile and observes its duration when dropped.
    pub fn reconcile(&self, kind: &str) -> ReconcileTimer<'_> {
        let labels = KindLabels {
            kind: kind.to_owned(),
        };
        self.reconciles.get_or_create(&labels).inc();
        ReconcileTimer {
            metrics: self,
            labels,
            start: Instant::now(),
        }
    }

    pub fn error(&self, kind: &str, step: &str, reason: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind: kind.into(),
                step: step.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// Record when a binding's credential expires (`None`: it has no expiry, or the binding is
    /// gone), for `cache_operator_token_expiry_seconds`.
    pub fn set_token_expiry(&self, namespace: &str, name: &str, expires: Option<jiff::Timestamp>) {
        let labels = BindingLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        let mut map = self.expiries.lock().expect("expiry map lock");
        match expires {
            Some(t) => {
                map.insert(labels, t);
            }
            None => {
                map.remove(&labels);
                self.token_expiry_seconds.remove(&labels);
            }
        }
    }

    /// Say which bindings exist, so that a deleted binding's expiry goes at the next scrape.
    pub fn track_bindings(&self, exists: impl Fn(&str, &str) -> bool + Send + Sync + 'static) {
        *self.exists.lock().expect("exists lock") = Some(Box::new(exists));
    }

    pub fn render(&self) -> String {
        let now = jiff::Timestamp::now();
        let mut expiries = self.expiries.lock().expect("expiry map lock");
        if let Some(exists) = self.exists.lock().expect("exists lock").as_ref() {
            expiries.retain(|labels, _| {
                let keep = exists(&labels.namespace, &labels.name);
                if !keep {
                    self.token_expiry_seconds.remove(labels);
                }
                keep
            });
        }
        for (labels, t) in expiries.iter() {
            let left = t.duration_since(now).as_secs_f64();
            self.token_expiry_seconds.get_or_create(labels).set(left);
        }
        drop(expiries);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    labels: KindLabels,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .reconcile_seconds
            .get_or_create(&self.labels)
            .observe(self.start.elapsed().as_secs_f64());
    }
}

impl CallObserver for Metrics {
    fn observe(&self, api: &str, operation: &str, outcome: &str, seconds: f64) {
        self.cloud_calls
            .get_or_create(&CallLabels {
                api: api.into(),
                operation: operation.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.cloud_call_seconds
            .get_or_create(&ApiLabels { api: api.into() })
            .observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_bindings_expiry_goes_at_the_next_scrape() {
        let m = Metrics::default();
        let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(600);
        m.set_token_expiry("shop", "app", Some(soon));
        m.set_token_expiry("shop", "gone", Some(soon));
        m.track_bindings(|ns, name| ns == "shop" && name == "app");
        let out = m.render();
        assert!(
            out.contains(r#"token_expiry_seconds{namespace="shop",name="app"}"#),
            "{out}"
        );
        assert!(!out.contains(r#"name="gone""#), "{out}");
    }
}
