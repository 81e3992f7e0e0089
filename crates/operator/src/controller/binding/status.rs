//! Status: a binding's conditions, the Secret it wrote and its token's times, written at the
//! end of a pass; how a halted pass shows.

use std::time::Duration;

use cache_operator_api::binding::AccessBinding;
use cache_operator_api::condition::Summary;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::apply::delete_secret;
use super::plan::Conditions;
use crate::controller::error::{Error, Halt};
use crate::controller::status::{Announce, Draft, Drafted};

/// A binding's pass and the status it drafts.
pub type Pass<'a> = Draft<'a, AccessBinding>;

/// A binding's Ready message changes with every token (its expiry): see [`Announce`].
impl Drafted for AccessBinding {
    const ANNOUNCE: Announce = Announce::ReadyStatusOrReasonOrWarning;
}

impl Pass<'_> {
    pub fn namespace(&self) -> String {
        self.obj.namespace().unwrap_or_default()
    }

    /// Write the conditions and the status; an event when Ready's status or reason changed,
    /// or on a warning.
    pub async fn finish(&mut self, conditions: Conditions, then: Action) -> Result<Action, Error> {
        let generation = self.obj.metadata.generation;
        let note = conditions.apply(&mut self.st.conditions, generation, Timestamp::now());
        self.conclude(note).await?;
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
