//! Fault injection: added latency, random server errors, throttling bursts and IAM etag conflicts.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// The body of `PUT /_cloudsim/faults`. It replaces whatever was configured before.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// Added to every matching request before it is handled.
    #[serde(default)]
    pub latency_ms: u64,
    /// Probability (0–1) that a matching request fails with the API's "unavailable" error.
    #[serde(default)]
    pub error_rate: f64,
    /// Operation names the faults apply to (`clusters.create`, `CreateReplicationGroup`, …); empty = all.
    #[serde(default)]
    pub operations: Vec<String>,
    /// The next `requests` matching requests are throttled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_burst: Option<ThrottleBurst>,
    /// Seed for the error-rate dice, for reproducible runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The next N setIamPolicy calls answer ABORTED as if someone else had written the policy first.
    #[serde(default)]
    pub iam_conflicts: u32,
    /// The next N long-running operations started by a matching call (`clusters.create`,
    /// `clusters.patch`) are accepted, then finish with an error (a create leaves no cluster, an
    /// update leaves the cluster as it was).
    #[serde(default)]
    pub operation_failures: u32,
    /// The next N matching calls (Google APIs) are carried out, and then answered UNAVAILABLE as
    /// if the response had been lost on its way back: the caller cannot know the write happened.
    #[serde(default)]
    pub lost_responses: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottleBurst {
    pub requests: u32,
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) || self.error_rate.is_nan() {
            return Err(format!(
                "errorRate must be between 0 and 1, got {}",
                self.error_rate
            ));
        }
        if self.latency_ms > 600_000 {
            return Err("latencyMs must be at most 600000 (10 minutes)".into());
        }
        Ok(())
    }

    fn matches(&self, operation: &str) -> bool {
        self.operations.is_empty() || self.operations.iter().any(|o| o == operation)
    }
}

/// What the fault layer decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    Throttled,
    Unavailable,
}

#[derive(Debug)]
struct Active {
    spec: FaultSpec,
    rng: StdRng,
    throttle_left: u32,
    iam_conflicts_left: u32,
    operation_failures_left: u32,
    lost_responses_left: u32,
}

impl Default for Active {
    fn default() -> Self {
        Self::new(FaultSpec::default())
    }
}

impl Active {
    fn new(spec: FaultSpec) -> Self {
        let rng = match spec.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self {
            throttle_left: spec.throttle_burst.map_or(0, |b| b.requests),
            iam_conflicts_left: spec.iam_conflicts,
            operation_failures_left: spec.operation_failures,
            lost_responses_left: spec.lost_responses,
            spec,
            rng,
        }
    }
}

#[derive(Debug, Default)]
pub struct Faults {
    active: Mutex<Active>,
}

/// The fault decision for one request: wait this long, then maybe fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub latency: Duration,
    pub injected: Option<Injected>,
}

impl Faults {
    pub fn set(&self, spec: FaultSpec) {
        *self.active.lock().expect("faults lock") = Active::new(spec);
    }

    pub fn clear(&self) {
        self.set(FaultSpec::default());
    }

    /// The configured spec with the remaining burst/conflict budgets.
    pub fn snapshot(&self) -> serde_json::Value {
        let a = self.active.lock().expect("faults lock");
        let mut v = serde_json::to_value(&a.spec).unwrap_or_default();
        v["throttleRemaining"] = a.throttle_left.into();
        v["iamConflictsRemaining"] = a.iam_conflicts_left.into();
        v["operationFailuresRemaining"] = a.operation_failures_left.into();
        v["lostResponsesRemaining"] = a.lost_responses_left.into();
        v
    }

    pub fn verdict(&self, operation: &str) -> Verdict {
        let mut a = self.active.lock().expect("faults lock");
        if !a.spec.matches(operation) {
            return Verdict {
                latency: Duration::ZERO,
                injected: None,
            };
        }
        let latency = Duration::from_millis(a.spec.latency_ms);
        let injected = if a.throttle_left > 0 {
            a.throttle_left -= 1;
            Some(Injected::Throttled)
        } else if a.spec.error_rate > 0.0 && a.rng.random::<f64>() < a.spec.error_rate {
            Some(Injected::Unavailable)
        } else {
            None
        };
        Verdict { latency, injected }
    }

    /// Whether the answer of a matching call that was carried out is lost (consumes one).
    pub fn take_lost_response(&self, operation: &str) -> bool {
        let mut a = self.active.lock().expect("faults lock");
        if a.lost_responses_left > 0 && a.spec.matches(operation) {
            a.lost_responses_left -= 1;
            true
        } else {
            false
        }
    }

    /// Whether the long-running operation a matching call starts must fail (consumes one).
    pub fn take_operation_failure(&self, operation: &str) -> bool {
        let mut a = self.active.lock().expect("faults lock");
        if a.operation_failures_left > 0 && a.spec.matches(operation) {
            a.operation_failures_left -= 1;
            true
        } else {
            false
        }
    }

    /// Consumes one injected IAM conflict, if any is left.
    pub fn take_iam_conflict(&self) -> bool {
        let mut a = self.active.lock().expect("faults lock");
        if a.iam_conflicts_left > 0 {
            a.iam_conflicts_left -= 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        let s: FaultSpec = serde_json::from_str(json).unwrap();
        s.validate().unwrap();
        s
    }

    #[test]
    fn throttle_burst_hits_exactly_the_next_matching_requests() {
        let f = Faults::default();
        f.set(spec(
            r#"{"throttleBurst": {"requests": 2}, "operations": ["clusters.create"]}"#,
        ));
        assert_eq!(f.verdict("clusters.get").injected, None);
        assert_eq!(
            f.verdict("clusters.create").injected,
            Some(Injected::Throttled)
        );
        assert_eq!(
            f.verdict("clusters.create").injected,
            Some(Injected::Throttled)
        );
        assert_eq!(f.verdict("clusters.create").injected, None);
    }

    #[test]
    fn lost_responses_are_counted_down_for_matching_calls_only() {
        let f = Faults::default();
        f.set(spec(
            r#"{"lostResponses": 1, "operations": ["instances.create"]}"#,
        ));
        assert!(!f.take_lost_response("instances.get"));
        assert!(f.take_lost_response("instances.create"));
        assert!(!f.take_lost_response("instances.create"));
    }

    #[test]
    fn seeded_error_rate_is_reproducible_and_near_the_rate() {
        let run = || {
            let f = Faults::default();
            f.set(spec(r#"{"errorRate": 0.25, "seed": 7}"#));
            (0..400)
                .map(|_| f.verdict("X").injected.is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let failures = a.iter().filter(|x| **x).count();
        assert!(
            (60..140).contains(&failures),
            "{failures} failures out of 400"
        );
    }

    #[test]
    fn invalid_specs_are_refused() {
        let s: FaultSpec = serde_json::from_str(r#"{"errorRate": 1.5}"#).unwrap();
        assert!(s.validate().is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"latency": 5}"#).is_err());
    }

    #[test]
    fn iam_conflicts_are_consumed_one_by_one() {
        let f = Faults::default();
        f.set(spec(r#"{"iamConflicts": 1, "latencyMs": 5}"#));
        assert_eq!(
            f.verdict("projects.setIamPolicy").latency,
            Duration::from_millis(5)
        );
        assert!(f.take_iam_conflict());
        assert!(!f.take_iam_conflict());
        f.clear();
        assert_eq!(f.verdict("x").latency, Duration::ZERO);
    }
}
