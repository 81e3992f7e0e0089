//! Status: what a UserGroup pass writes — conditions, the users and grants it holds — and how
//! a halted pass shows. Intent (users about to be created) is written before the cloud call.

use cache_operator_api::UserGroup;
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::user_group::UserGroupStatus;
use cache_operator_cloud::CloudError;
use jiff::Timestamp;
use kube::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use crate::controller::error::{At, CloudFailure, Error, Halt, Step, retrying};
use crate::controller::status::{self, Announce, Note, publish, ready};
use crate::controller::{Ctx, skeleton};

pub struct Pass<'a> {
    pub obj: &'a UserGroup,
    pub ctx: &'a Ctx,
    api: Api<UserGroup>,
    /// The status as last written (what a skipped write compares against).
    written: UserGroupStatus,
    pub st: UserGroupStatus,
}

impl<'a> Pass<'a> {
    pub fn new(obj: &'a UserGroup, ctx: &'a Ctx) -> Self {
        let old = obj.status.clone().unwrap_or_default();
        let mut st = old.clone();
        st.observed_generation = obj.metadata.generation;
        Pass {
            obj,
            ctx,
            api: skeleton::api_for(ctx, obj),
            written: old,
            st,
        }
    }

    /// Log a state change and publish it as an event.
    pub async fn note(&self, type_: EventType, reason: &str, action: &str, note: String) {
        publish(self.ctx, self.obj, type_, reason, action, note).await;
    }

    /// Write the status now if it changed (used to record intent before a cloud write).
    pub async fn persist(&mut self) -> Result<(), Error> {
        status::write(&self.api, self.obj, Some(&self.written), &self.st).await?;
        self.written = self.st.clone();
        Ok(())
    }

    pub async fn finish(&mut self, summary: Summary, then: Action) -> Result<Action, Error> {
        let before = ready(&self.st.conditions);
        summary.apply(
            &mut self.st.conditions,
            self.obj.metadata.generation,
            Timestamp::now(),
        );
        let note = Note::of(&summary);
        self.persist().await?;
        if Announce::ReadyReasonOrMessage.due(before.as_ref(), None, &note) {
            self.note(note.type_, &note.reason, "Reconcile", note.message)
                .await;
        }
        Ok(then)
    }

    pub async fn halt(&mut self, h: Halt) -> Result<Action, Error> {
        match h {
            Halt::Busy(msg) => {
                let r = if self.st.user_group_id.is_some() {
                    reason::UPDATING
                } else {
                    reason::CREATING
                };
                let then = Action::requeue(self.ctx.timing.poll);
                self.finish(Summary::progressing(r, msg), then).await
            }
            Halt::Waiting(r, msg) => {
                let then = Action::requeue(self.ctx.timing.poll);
                self.finish(Summary::progressing(r, msg), then).await
            }
            Halt::Stalled(r, msg) | Halt::Revoked(r, msg) => {
                let then = Action::requeue(self.ctx.resync());
                self.finish(Summary::stalled(r, msg), then).await
            }
            Halt::Failed(Error::Cloud { step, source }) => self.cloud_failure(source, step).await,
            Halt::Failed(e) => Err(e),
        }
    }

    /// Refusals stall until the spec changes, denials until permissions change; a busy cloud
    /// is waited for; the rest backs off.
    pub async fn cloud_failure(&mut self, e: CloudError, step: Step) -> Result<Action, Error> {
        let class = CloudFailure::of(&e);
        if let Some((summary, then)) = class.stalled(&e, self.ctx.timing.max_backoff) {
            return self.finish(summary, then).await;
        }
        if class == CloudFailure::Busy {
            return Box::pin(self.halt(Halt::cloud(e, step))).await;
        }
        self.finish(retrying(&e), Action::await_change()).await?;
        Err(e).at(step)
    }
}
