//! Events (`events.k8s.io/v1`) about our objects, with repeats folded into a series.
//!
//! kube's `Recorder` does the same but keeps a full copy of every event it published for six
//! minutes and sweeps that whole cache on every publish: a burst of N objects costs O(N²) work
//! and holds every event in memory until the next publish, which in steady state never comes.
//! The operator publishes on state changes only, so a repeat is rare; this recorder keeps a
//! fingerprint, the event's name and its count per recent event, in arrival order, and expires
//! from the front — O(1) per publish, a few dozen bytes per recent event.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
pub use kube::runtime::events::{Event, EventType, Reporter};

/// How long a published event can become a series (kube's and client-go's window).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

struct Recent {
    name: String,
    count: i32,
    at: Instant,
}

#[derive(Default)]
struct Window {
    by_key: HashMap<u64, Recent>,
    order: VecDeque<(Instant, u64)>,
}

impl Window {
    /// Forget what left the window (front of the queue first: O(expired)).
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.order.front() {
            if now.duration_since(at) < SERIES_WINDOW {
                break;
            }
            self.order.pop_front();
            // A key seen again later has a newer entry; keep that one.
            if self.by_key.get(&key).is_some_and(|r| r.at == at) {
                self.by_key.remove(&key);
            }
        }
    }

    fn len(&self) -> usize {
        self.by_key.len()
    }
}

pub struct Recorder {
    client: Client,
    reporter: Reporter,
    window: Mutex<Window>,
}

/// What makes two events the same series — kube's key: the reporter, type, reason, action and
/// the objects as referenced (their resourceVersion included, so a repeat on a changed object
/// is a new event), not the note.
fn key(reporter: &Reporter, ev: &Event, regarding: &ObjectReference) -> u64 {
    let mut h = DefaultHasher::new();
    reporter.controller.hash(&mut h);
    reporter.instance.hash(&mut h);
    ev.type_.hash(&mut h);
    ev.reason.hash(&mut h);
    ev.action.hash(&mut h);
    for r in std::iter::once(regarding).chain(ev.secondary.as_ref()) {
        (&r.api_version, &r.kind, &r.namespace, &r.name, &r.uid).hash(&mut h);
        (&r.resource_version, &r.field_path).hash(&mut h);
    }
    h.finish()
}

fn type_name(t: EventType) -> &'static str {
    match t {
        EventType::Normal => "Normal",
        EventType::Warning => "Warning",
    }
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Recorder {
            client,
            reporter,
            window: Mutex::default(),
        }
    }

    /// Events remembered for folding repeats (for tests and metrics).
    pub fn remembered(&self) -> usize {
        self.window.lock().expect("events lock").len()
    }

    /// Create the event, or count it into the series of the same event published within the
    /// window.
    pub async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let now = Instant::now();
        let key = key(&self.reporter, ev, regarding);
        let repeat = {
            let mut w = self.window.lock().expect("events lock");
            w.expire(now);
            w.by_key.get(&key).map(|r| (r.name.clone(), r.count + 1))
        };
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        let stamp = Timestamp::now();
        let (name, count) = match repeat {
            Some((name, count)) => {
                // The note is left as the first event had it (as kube's recorder does, which
                // sends its cached copy of the first event).
                let series = serde_json::json!({
                    "type": type_name(ev.type_),
                    "reason": ev.reason,
                    "action": ev.action,
                    "series": EventSeries {
                        count,
                        last_observed_time: MicroTime(stamp),
                    },
                });
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&series))
                    .await?;
                (name, count)
            }
            None => {
                let name = format!(
                    "{}.{:x}",
                    regarding
                        .name
                        .as_deref()
                        .unwrap_or(&self.reporter.controller),
                    stamp.as_nanosecond()
                );
                let event = self.event(ev, regarding, &name, stamp);
                api.create(&PostParams::default(), &event).await?;
                (name, 1)
            }
        };
        let mut w = self.window.lock().expect("events lock");
        w.by_key.insert(
            key,
            Recent {
                name,
                count,
                at: now,
            },
        );
        w.order.push_back((now, key));
        Ok(())
    }

    fn event(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
        name: &str,
        stamp: Timestamp,
    ) -> K8sEvent {
        K8sEvent {
            action: Some(ev.action.clone()),
            reason: Some(ev.reason.clone()),
            event_time: Some(MicroTime(stamp)),
            regarding: Some(regarding.clone()),
            related: ev.secondary.clone(),
            note: ev.note.clone(),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(name.to_owned()),
                ..Default::default()
            },
            reporting_controller: Some(self.reporter.controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| self.reporter.controller.clone()),
            ),
            type_: Some(type_name(ev.type_).to_owned()),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_forgets_from_the_front_and_keeps_a_key_seen_again() {
        let mut w = Window::default();
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(100);
        for (at, key, name) in [(t0, 1, "a"), (t0, 2, "b"), (later, 1, "a")] {
            w.by_key.insert(
                key,
                Recent {
                    name: name.into(),
                    count: 1,
                    at,
                },
            );
            w.order.push_back((at, key));
        }
        w.expire(t0 + SERIES_WINDOW);
        assert_eq!(w.len(), 1, "b expired; a was seen again within the window");
        assert!(w.by_key.contains_key(&1));
        assert_eq!(w.order.len(), 1);
        w.expire(later + SERIES_WINDOW);
        assert_eq!(w.len(), 0);
        assert!(w.order.is_empty());
    }

    #[test]
    fn the_series_key_ignores_the_note_but_not_the_object_or_its_version() {
        let reporter = Reporter {
            controller: "cache-operator".into(),
            instance: Some("a".into()),
        };
        let ev = |note: &str| Event {
            type_: EventType::Normal,
            reason: "Ready".into(),
            note: Some(note.into()),
            action: "Reconcile".into(),
            secondary: None,
        };
        let obj = |name: &str| ObjectReference {
            kind: Some("RedisCluster".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        };
        assert_eq!(
            key(&reporter, &ev("one"), &obj("a")),
            key(&reporter, &ev("two"), &obj("a"))
        );
        assert_ne!(
            key(&reporter, &ev("one"), &obj("a")),
            key(&reporter, &ev("one"), &obj("b"))
        );
        let changed = ObjectReference {
            resource_version: Some("2".into()),
            ..obj("a")
        };
        assert_ne!(
            key(&reporter, &ev("one"), &obj("a")),
            key(&reporter, &ev("one"), &changed),
            "a repeat on a changed object is a new event"
        );
    }
}
