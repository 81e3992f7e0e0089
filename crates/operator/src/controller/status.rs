//! The last step of every pass: the status, written with server-side apply under one field
//! manager and only when it changed, and the events that tell people what happened.

use std::fmt::Debug;

use cache_operator_api::condition::{self, Summary};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::MANAGER;
use super::error::{At, Error, Step};
use crate::context::Context;

/// Write `status` with server-side apply under our field manager; skipped when nothing changed,
/// so steady objects cause no writes and no watch events.
pub async fn write<K, S>(api: &Api<K>, obj: &K, old: Option<&S>, status: &S) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if old == Some(status) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
    .at(Step::Status)?;
    Ok(())
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
        let type_ = match summary {
            Summary::Stalled { .. } | Summary::Retrying { .. } => EventType::Warning,
            _ => EventType::Normal,
        };
        Note {
            type_,
            reason: summary.reason().to_owned(),
            message: summary.message().to_owned(),
        }
    }
}

/// When a pass's conditions are worth an event. Kinds differ here for a reason: a cluster's
/// Ready message changes with real progress (a pending change), while a binding's changes with
/// every token (its expiry), so a binding speaks on a change of Ready's status or reason only
/// — and on every warning, since a failing refresh must not go unseen.
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
                key(before) != key(after) || note.type_ == EventType::Warning
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

/// The end of a pass: write the status (conditions already set) and publish `note` when
/// `announce` says the conditions changed enough. `before` is Ready as the object had it.
#[allow(clippy::too_many_arguments)]
pub async fn conclude<K, S>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    written: Option<&S>,
    status: &S,
    before: Option<&Condition>,
    after: Option<&Condition>,
    note: Note,
    announce: Announce,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    write(api, obj, written, status).await?;
    if announce.due(before, after, &note) {
        publish(
            ctx,
            obj,
            note.type_,
            &note.reason,
            "Reconcile",
            note.message,
        )
        .await;
    }
    Ok(())
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
    fn long_event_notes_are_cut_on_a_character_boundary() {
        let s = truncate("é".repeat(600), 1000);
        assert_eq!(s.len(), 1000);
        assert_eq!(truncate("short".into(), 1000), "short");
    }
}
