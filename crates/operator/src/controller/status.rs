//! The last step of every pass: the status, written with server-side apply under one field
//! manager and only when it changed, and the events that tell people what happened.

use std::time::Duration;

use cache_operator_api::UserGroup;
use cache_operator_api::binding::AccessBindingStatus;
use cache_operator_api::cluster::RedisClusterStatus;
use cache_operator_api::condition::{self, Summary};
use cache_operator_api::serverless::ServerlessCacheStatus;
use cache_operator_api::user_group::UserGroupStatus;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams};
use kube::core::object::HasStatus;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde_json::json;

use super::ending::{Ending, Next, Outcome, at_least_a_second};
use super::error::{At, Error, Step};
use super::skeleton::{self, Reconcile};
use super::{Ctx, MANAGER};
use crate::context::Context;

/// What every kind's status has: conditions, and the generation they speak of.
pub trait CommonStatus {
    fn conditions(&self) -> &[Condition];
    fn conditions_mut(&mut self) -> &mut Vec<Condition>;
    fn observe(&mut self, generation: Option<i64>);
}

macro_rules! common_status {
    ($($status:ty),*) => {$(
        impl CommonStatus for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn conditions_mut(&mut self) -> &mut Vec<Condition> {
                &mut self.conditions
            }
            fn observe(&mut self, generation: Option<i64>) {
                self.observed_generation = generation;
            }
        }
    )*};
}

common_status!(
    RedisClusterStatus,
    ServerlessCacheStatus,
    UserGroupStatus,
    AccessBindingStatus
);

/// A kind whose passes draft a status.
pub trait Drafted:
    Reconcile + HasStatus<Status: CommonStatus + Clone + Default + PartialEq + Serialize + Send + Sync>
{
    /// What a pass's [`Outcome`] says besides the conditions (a cluster's phase; `()`).
    type Phase;

    /// When a pass's conditions are worth an event.
    const ANNOUNCE: Announce = Announce::ReadyReasonOrMessage;

    /// What the status says from the start of every pass besides the generation.
    fn begin(&self, _st: &mut Self::Status) {}

    /// Take an outcome's phase into the status.
    fn record_phase(_st: &mut Self::Status, _phase: Self::Phase, _summary: &Summary) {}
}

impl Drafted for UserGroup {
    type Phase = ();
}

/// One pass over an object and the status it drafts: every kind's `Pass`. Each kind adds how
/// its pass ends (`finish`, `halt`, …) in its own `status.rs`.
pub struct Draft<'a, K: Drafted> {
    pub obj: &'a K,
    pub ctx: &'a Ctx,
    api: Api<K>,
    /// The status as the pass found it.
    pub old: K::Status,
    /// The status as last written (what a write of the same is skipped against).
    written: K::Status,
    /// The status being drafted.
    pub st: K::Status,
    /// Whether this pass wrote the status (its watch event will bring the next pass).
    wrote: bool,
}

impl<'a, K: Drafted> Draft<'a, K> {
    pub fn new(obj: &'a K, ctx: &'a Ctx) -> Self {
        let old = obj.status().cloned().unwrap_or_default();
        let mut st = old.clone();
        st.observe(obj.meta().generation);
        obj.begin(&mut st);
        Draft {
            obj,
            ctx,
            api: skeleton::api_for(ctx, obj),
            written: old.clone(),
            old,
            st,
            wrote: false,
        }
    }

    /// Write the draft now (also to record intent before a cloud write): with server-side apply
    /// under our field manager, and only if it changed, so steady objects cause no writes and
    /// no watch events.
    pub async fn persist(&mut self) -> Result<(), Error> {
        if self.written == self.st {
            return Ok(());
        }
        let patch = json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": self.st,
        });
        self.api
            .patch_status(
                &self.obj.name_any(),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(patch),
            )
            .await
            .at(Step::Status)?;
        self.written = self.st.clone();
        self.wrote = true;
        Ok(())
    }

    /// Whether this pass wrote the status.
    pub fn wrote(&self) -> bool {
        self.wrote
    }

    /// Log a state change and publish it as an event.
    pub async fn note(&self, type_: EventType, reason: &str, action: &str, note: String) {
        publish(self.ctx, self.obj, type_, reason, action, note).await;
    }

    /// The end of a pass: write the draft (conditions already set) and publish `note` when the
    /// kind's [`Drafted::ANNOUNCE`] says Ready changed enough since the pass began.
    pub async fn conclude(&mut self, note: Note) -> Result<(), Error> {
        self.persist().await?;
        let before = ready(self.old.conditions());
        let after = ready(self.st.conditions());
        if K::ANNOUNCE.due(before.as_ref(), after.as_ref(), &note) {
            self.note(note.type_, &note.reason, "Reconcile", note.message)
                .await;
        }
        Ok(())
    }

    /// End the pass with the conditions `summary` says.
    pub async fn summarize(&mut self, summary: &Summary) -> Result<(), Error> {
        let generation = self.obj.meta().generation;
        summary.apply(self.st.conditions_mut(), generation, Timestamp::now());
        self.conclude(Note::of(summary)).await
    }

    /// End the pass as `ending` says: the status written (when it changed) with an event when
    /// the kind's [`Drafted::ANNOUNCE`] says so, and the next look; a retried failure is
    /// returned for the error policy's backoff.
    pub async fn end(&mut self, ending: Ending<K::Phase>) -> Result<Action, Error> {
        match ending {
            Ending::Report(outcome) => self.report(outcome).await,
            Ending::Quiet(next) => Ok(self.next(&next)),
            Ending::Retry { report, error } => {
                if let Some(outcome) = report {
                    self.report(outcome).await?;
                }
                Err(error)
            }
        }
    }

    async fn report(&mut self, outcome: Outcome<K::Phase>) -> Result<Action, Error> {
        K::record_phase(&mut self.st, outcome.phase, &outcome.summary);
        self.summarize(&outcome.summary).await?;
        Ok(self.next(&outcome.next))
    }

    /// The action of a [`Next`].
    fn next(&self, next: &Next) -> Action {
        let timing = &self.ctx.timing;
        match next {
            // The watch event of the status just written brings the next pass, with that
            // status in the cache; a short poll would race it and run on the old one (the
            // status written again, the event published again, the cloud asked again).
            Next::Poll if self.wrote => Action::requeue(timing.poll),
            Next::Poll => {
                Action::requeue(poll(self.old.conditions(), timing.poll, Timestamp::now()))
            }
            Next::Soon => Action::requeue(timing.poll),
            Next::Waiting => Action::requeue(at_least_a_second(timing.poll)),
            Next::Slowly => Action::requeue(timing.poll.max(Duration::from_secs(5))),
            Next::Resync => Action::requeue(self.ctx.resync()),
            Next::ResyncBy(at) => {
                let until = Duration::try_from(at.duration_since(Timestamp::now()))
                    .unwrap_or_default()
                    .max(Duration::from_secs(1));
                Action::requeue(self.ctx.resync().min(until))
            }
            Next::MaxBackoff => Action::requeue(timing.max_backoff),
            Next::After(d) => Action::requeue(*d),
            Next::Now => Action::requeue(Duration::from_millis(200)),
            Next::AwaitChange => Action::await_change(),
        }
    }
}

/// The next look while the cloud works: soon after a transition starts (a simulator, or a
/// quick change, finishes in moments), then less often, up to the poll interval — so a
/// 20-minute creation costs a handful of extra reads, not hundreds.
pub fn poll(conditions: &[Condition], interval: Duration, now: Timestamp) -> Duration {
    let since = condition::get(conditions, condition::READY)
        .filter(|c| c.status == condition::FALSE)
        .map(|c| now.duration_since(c.last_transition_time.0).unsigned_abs())
        .unwrap_or_default();
    let min = Duration::from_millis(200).min(interval);
    (since / 2).clamp(min, interval)
}

/// What an event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

impl Note {
    /// A summary as an event: a warning when the object stalled or a failure is retried.
    pub fn of(summary: &Summary) -> Note {
        let type_ = if summary.is_warning() {
            EventType::Warning
        } else {
            EventType::Normal
        };
        let (reason, message) = summary.said();
        Note {
            type_,
            reason: reason.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// When a pass's conditions are worth an event. Kinds differ here for a reason: a cluster's
/// Ready message changes with real progress (a pending change), while a binding's changes with
/// every token (its expiry), so a binding speaks on a change of Ready's status or reason only
/// — and on every warning, since a failing refresh must not go unseen. A binding waiting for
/// the object it names to become Ready (the usual order when both are applied together) says so
/// in its status only: it has done nothing yet, the cluster's own events tell that story, and
/// N pairs applied at once would otherwise make N events saying the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announce {
    ReadyReasonOrMessage,
    ReadyStatusOrReasonOrWarning,
}

impl Announce {
    pub fn due(self, before: Option<&Condition>, after: Option<&Condition>, note: &Note) -> bool {
        match self {
            Announce::ReadyReasonOrMessage => {
                before.map(|c| (c.reason.as_str(), c.message.as_str()))
                    != Some((note.reason.as_str(), note.message.as_str()))
            }
            Announce::ReadyStatusOrReasonOrWarning => {
                let key = |c: Option<&Condition>| c.map(|c| (c.status.clone(), c.reason.clone()));
                let waits = note.type_ == EventType::Normal
                    && note.reason == condition::reason::REFERENCE_NOT_READY;
                !waits && (key(before) != key(after) || note.type_ == EventType::Warning)
            }
        }
    }
}

/// Log a state change and publish it as an event; failures to publish are logged, never fatal.
pub async fn publish<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    message: String,
) {
    let object = format!(
        "{}/{}",
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    );
    let kind = K::kind(&());
    if type_ == EventType::Warning {
        tracing::warn!(%kind, %object, reason, "{message}");
    } else {
        tracing::info!(%kind, %object, reason, "{message}");
    }
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(truncate(message, 1000)),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish an event");
    }
}

/// Ready from a list of conditions, cloned (for comparing before and after a pass).
pub fn ready(conditions: &[Condition]) -> Option<Condition> {
    condition::get(conditions, condition::READY).cloned()
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_operator_api::condition::reason;

    fn ready_with(status: &str, reason_: &str, message: &str) -> Condition {
        condition::new(condition::READY, status, reason_, message, Some(1))
    }

    #[test]
    fn clusters_speak_when_ready_says_something_new_and_bindings_when_it_flips_or_warns() {
        let before = ready_with(condition::FALSE, reason::UPDATING, "changing shard count");
        let same = Note::of(&Summary::progressing(
            reason::UPDATING,
            "changing shard count",
        ));
        let other = Note::of(&Summary::progressing(
            reason::UPDATING,
            "changing node type",
        ));
        let r = Announce::ReadyReasonOrMessage;
        assert!(!r.due(Some(&before), None, &same));
        assert!(r.due(Some(&before), None, &other));
        assert!(r.due(None, None, &same), "a first status is news");

        let b = Announce::ReadyStatusOrReasonOrWarning;
        let after = ready_with(condition::FALSE, reason::UPDATING, "changing node type");
        assert!(
            !b.due(Some(&before), Some(&after), &other),
            "a new message alone"
        );
        let issued = ready_with(condition::TRUE, reason::CREDENTIALS_ISSUED, "x");
        assert!(b.due(Some(&before), Some(&issued), &other));
        let warning = Note::of(&Summary::retrying(reason::REFRESH_FAILED, "again"));
        assert_eq!(warning.type_, EventType::Warning);
        assert!(b.due(Some(&before), Some(&before), &warning));
    }

    #[test]
    fn a_binding_waiting_for_its_cluster_says_so_in_status_only() {
        let waits = Summary::progressing(
            reason::REFERENCE_NOT_READY,
            "waiting for RedisCluster shop/orders to be Ready",
        );
        let mut conditions = Vec::new();
        waits.apply(&mut conditions, Some(1), Timestamp::now());
        let after = condition::get(&conditions, condition::READY).cloned();
        let b = Announce::ReadyStatusOrReasonOrWarning;
        assert!(!b.due(None, after.as_ref(), &Note::of(&waits)));
        let missing = Summary::progressing(reason::REFERENCE_NOT_FOUND, "no RedisCluster shop/x");
        assert!(
            b.due(None, after.as_ref(), &Note::of(&missing)),
            "a name that matches nothing may be a typo: announced"
        );
    }

    #[test]
    fn long_event_notes_are_cut_on_a_character_boundary() {
        let s = truncate("é".repeat(600), 1000);
        assert_eq!(s.len(), 1000);
        assert_eq!(truncate("short".into(), 1000), "short");
    }
}
