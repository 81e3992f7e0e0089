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
}

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
            "Failed reconciliations by kind and reason",
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

    pub fn error(&self, kind: &str, reason: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind: kind.into(),
                reason: reason.into(),
            })
            .inc();
    }

    pub fn render(&self) -> String {
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
