//! Status: the phase, conditions and observed facts of a cluster, written once at the end of
//! a pass (only when changed), with an event when Ready says something new.

use std::time::Duration;

use cache_operator_api::cluster::{ClusterEndpoints, RedisCluster, RedisClusterStatus};
use cache_operator_api::common::HostPort;
use cache_operator_api::condition;
use cache_operator_cloud::provider::{Endpoint, ObservedCluster};
use jiff::Timestamp;
use kube::runtime::controller::Action;

use super::plan::{Ending, Next, Outcome};
use crate::controller::error::{At, Error, Step};
use crate::controller::status::{Draft, Drafted};

/// A cluster's pass and the status it drafts from the one it found.
pub type Pass<'a> = Draft<'a, RedisCluster>;

/// A cluster's status names its cloud instance from the start.
impl Drafted for RedisCluster {
    fn begin(&self, st: &mut RedisClusterStatus) {
        st.instance_id = Some(self.instance_id().to_owned());
    }
}

impl Pass<'_> {
    /// Set phase and conditions, write the status if it changed, and publish an event when
    /// the object's situation changed.
    pub async fn finish(&mut self, outcome: Outcome) -> Result<Action, Error> {
        let summary = &outcome.summary;
        self.st.phase = Some(outcome.phase);
        self.st.message = Some(summary.message().to_owned()).filter(|m| !m.is_empty());
        self.summarize(summary).await?;
        Ok(match outcome.next {
            // The watch event of the status just written brings the next pass, with that
            // status in the cache; a short poll would race it and run on the old one (the
            // status written again, the event published again, the cloud asked again).
            Next::Poll if self.wrote() => Action::requeue(self.ctx.timing.poll),
            Next::Poll => Action::requeue(poll(&self.old, self.ctx.timing.poll, Timestamp::now())),
            Next::Resync => Action::requeue(self.ctx.resync()),
            Next::Then(action) => action,
        })
    }

    /// End the pass as `ending` says; `step` is where a retried failure happened.
    pub async fn end(&mut self, ending: Ending, step: Step) -> Result<Action, Error> {
        match ending {
            Ending::Report(outcome) => self.finish(outcome).await,
            Ending::LookAgainSoon => Ok(Action::requeue(Duration::from_millis(200))),
            Ending::Retry { report, error } => {
                if let Some(outcome) = report {
                    self.finish(outcome).await?;
                }
                Err(error).at(step)
            }
        }
    }
}

/// The next look while the cloud works: soon after a transition starts (a simulator, or a
/// quick change, finishes in moments), then less often, up to the poll interval — so a
/// 20-minute creation costs a handful of extra reads, not hundreds.
pub fn poll(old: &RedisClusterStatus, interval: Duration, now: Timestamp) -> Duration {
    let since = condition::get(&old.conditions, condition::READY)
        .filter(|c| c.status == condition::FALSE)
        .map(|c| now.duration_since(c.last_transition_time.0).unsigned_abs())
        .unwrap_or_default();
    let min = Duration::from_millis(200).min(interval);
    (since / 2).clamp(min, interval)
}

/// Take what the cloud reports into the status.
pub fn record(st: &mut RedisClusterStatus, o: &ObservedCluster) {
    st.cloud_resource = Some(o.resource.clone());
    if o.uid.is_some() {
        st.cloud_uid = o.uid.clone();
    }
    st.cloud_state = Some(o.raw_state.clone());
    st.shard_count = Some(o.shard_count as i32);
    st.replicas_per_shard = Some(o.replicas_per_shard as i32);
    st.node_type = Some(o.node_type.clone());
    let hp = |e: &Endpoint| HostPort {
        host: e.host.clone(),
        port: i32::from(e.port),
    };
    let endpoints = ClusterEndpoints {
        discovery: o.discovery.iter().map(hp).collect(),
        primary: o.primary.as_ref().map(hp),
        reader: o.reader.as_ref().map(hp),
    };
    st.endpoints = (!endpoints.discovery.is_empty()).then_some(endpoints);
}
