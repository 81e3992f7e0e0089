//! Status: a binding's conditions, the Secret it wrote and its token's times, written at the
//! end of a pass; how a halted pass shows.

use std::time::Duration;

use cache_operator_api::binding::{AccessBinding, AccessBindingStatus};
use cache_operator_api::condition::Summary;
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::apply::delete_secret;
use super::plan::Conditions;
use crate::controller::error::{Error, Halt};
use crate::controller::status::{Announce, conclude, ready};
use crate::controller::{Ctx, skeleton};

pub struct Pass<'a> {
    pub obj: &'a AccessBinding,
    pub ctx: &'a Ctx,
    api: Api<AccessBinding>,
    pub st: AccessBindingStatus,
}

impl<'a> Pass<'a> {
    pub fn new(obj: &'a AccessBinding, ctx: &'a Ctx) -> Self {
        let mut st = obj.status.clone().unwrap_or_default();
        st.observed_generation = obj.metadata.generation;
        Pass {
            obj,
            ctx,
            api: skeleton::api_for(ctx, obj),
            st,
        }
    }

    pub fn namespace(&self) -> String {
        self.obj.namespace().unwrap_or_default()
    }

    /// Write the conditions and the status; an event when Ready's status or reason changed,
    /// or on a warning.
    pub async fn finish(&mut self, conditions: Conditions, then: Action) -> Result<Action, Error> {
        let old = self.obj.status.clone().unwrap_or_default();
        let note = conditions.apply(
            &mut self.st.conditions,
            self.obj.metadata.generation,
            Timestamp::now(),
        );
        conclude(
            self.ctx,
            &self.api,
            self.obj,
            Some(&old),
            &self.st,
            ready(&old.conditions).as_ref(),
            ready(&self.st.conditions).as_ref(),
            note,
            Announce::ReadyStatusOrReasonOrWarning,
        )
        .await?;
        Ok(then)
    }

    pub async fn summary(&mut self, s: Summary, then: Action) -> Result<Action, Error> {
        self.finish(Conditions::Summary(s), then).await
    }

    /// A pass that stops before writing a Secret: waiting and invalid keep the Secret (if
    /// any); revoked deletes it.
    pub async fn halt(&mut self, h: Halt) -> Result<Action, Error> {
        let resync = Action::requeue(self.ctx.resync());
        match h {
            Halt::Waiting(r, msg) => {
                let then = Action::requeue(self.ctx.timing.poll.max(Duration::from_secs(1)));
                self.summary(Summary::progressing(r, msg), then).await
            }
            Halt::Busy(msg) => {
                let then = Action::requeue(self.ctx.timing.poll.max(Duration::from_secs(1)));
                let r = cache_operator_api::condition::reason::REFERENCE_NOT_READY;
                self.summary(Summary::progressing(r, msg), then).await
            }
            Halt::Stalled(r, msg) => self.summary(Summary::stalled(r, msg), resync).await,
            Halt::Revoked(r, msg) => {
                let removed = delete_secret(self.ctx, self.obj).await?;
                let msg = if removed {
                    format!("{msg}; Secret {} deleted", self.obj.secret_name())
                } else {
                    format!("{msg}; no Secret is written")
                };
                self.st.token_expires_at = None;
                self.st.refresh_at = None;
                self.ctx
                    .metrics
                    .set_token_expiry(&self.namespace(), &self.obj.name_any(), None);
                self.summary(Summary::stalled(r, msg), resync).await
            }
            Halt::Failed(e) => Err(e),
        }
    }
}
