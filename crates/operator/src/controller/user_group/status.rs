//! Status: what a UserGroup pass writes — conditions, the users and grants it holds — and how
//! a halted pass shows. Intent (users about to be created) is written before the cloud call.

use cache_operator_api::UserGroup;
use cache_operator_api::condition::{Summary, reason};
use cache_operator_cloud::CloudError;
use kube::runtime::controller::Action;

use crate::controller::ending::{Next, OnFailure, Outcome, cloud_failure};
use crate::controller::error::{Error, Halt, Step};
use crate::controller::status::Draft;

/// A group's pass and the status it drafts, written as it goes (intent before cloud writes).
pub type Pass<'a> = Draft<'a, UserGroup>;

impl Pass<'_> {
    pub async fn finish(&mut self, summary: Summary, then: Action) -> Result<Action, Error> {
        self.summarize(&summary).await?;
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
        let r = if self.st.user_group_id.is_some() {
            reason::UPDATING
        } else {
            reason::CREATING
        };
        let busy = Outcome::new(
            (),
            Summary::progressing(r, format!("the cloud is busy: {}", e.message)),
            Next::Soon,
        );
        let on = OnFailure {
            stalled: (),
            busy,
            retrying: Some(()),
        };
        self.end(cloud_failure(e, step, on)).await
    }
}
