//! Status: the phase, conditions and observed facts of a cluster, written once at the end of
//! a pass (only when changed), with an event when Ready says something new.

use cache_operator_api::cluster::{ClusterEndpoints, Phase, RedisCluster, RedisClusterStatus};
use cache_operator_api::common::HostPort;
use cache_operator_api::condition::Summary;
use cache_operator_api::lifecycle::MaintenanceStatus;
use cache_operator_cloud::provider::{Endpoint, ObservedCluster, ObservedMaintenance};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::controller::status::{Draft, Drafted};

/// A cluster's pass and the status it drafts from the one it found.
pub type Pass<'a> = Draft<'a, RedisCluster>;

/// A cluster's status names its cloud instance from the start, and says its phase.
impl Drafted for RedisCluster {
    type Phase = Phase;

    fn begin(&self, st: &mut RedisClusterStatus) {
        st.instance_id = Some(self.instance_id().to_owned());
    }

    fn record_phase(st: &mut RedisClusterStatus, phase: Phase, summary: &Summary) {
        st.phase = Some(phase);
        st.message = Some(summary.message().to_owned()).filter(|m| !m.is_empty());
    }
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
    if let Some(a) = &o.aws {
        st.engine = Some(a.engine.clone()).filter(|e| !e.is_empty());
        st.engine_version = a.engine_version.clone();
    }
    let maintenance = match (&o.aws, &o.gcp) {
        (Some(a), _) => Some(&a.maintenance),
        (None, Some(g)) => Some(&g.maintenance),
        (None, None) => None,
    };
    st.maintenance = maintenance.and_then(maintenance_status);
}

/// What the cloud says about maintenance, for the status; `None` when it says nothing.
pub fn maintenance_status(m: &ObservedMaintenance) -> Option<MaintenanceStatus> {
    let time = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map(Time)
    };
    let status = MaintenanceStatus {
        window: m.window.clone(),
        scheduled_start: time(&m.scheduled_start),
        scheduled_end: time(&m.scheduled_end),
        pending: m.pending.clone(),
    };
    (status != MaintenanceStatus::default()).then_some(status)
}

#[cfg(test)]
mod tests {
    use cache_operator_cloud::provider::{AwsObserved, ClusterState, GcpObserved};

    use super::*;
    use crate::controller::cluster::fixtures::observed;

    #[test]
    fn the_engine_and_the_clouds_maintenance_reach_the_status() {
        let mut o = observed(ClusterState::Available);
        o.gcp = None;
        o.aws = Some(AwsObserved {
            engine: "valkey".into(),
            engine_version: Some("8.0.1".into()),
            maintenance: ObservedMaintenance {
                window: Some("sun:05:00-sun:06:00".into()),
                scheduled_start: Some("2026-03-01T05:00:00Z".into()),
                scheduled_end: Some("2026-03-01T06:00:00Z".into()),
                pending: vec!["EngineVersion 8.0".into()],
            },
            ..AwsObserved::default()
        });
        let mut st = RedisClusterStatus::default();
        record(&mut st, &o);
        assert_eq!(st.engine.as_deref(), Some("valkey"));
        assert_eq!(st.engine_version.as_deref(), Some("8.0.1"));
        let m = st.maintenance.clone().unwrap();
        assert_eq!(m.window.as_deref(), Some("sun:05:00-sun:06:00"));
        assert_eq!(
            m.scheduled_start.map(|t| t.0.to_string()).as_deref(),
            Some("2026-03-01T05:00:00Z")
        );
        assert_eq!(m.pending, ["EngineVersion 8.0"]);

        // gcp: the policy's window and the published schedule; nothing said, nothing shown.
        let mut o = observed(ClusterState::Available);
        o.gcp = Some(GcpObserved {
            maintenance: ObservedMaintenance {
                window: Some("SATURDAY 23:00 UTC".into()),
                ..ObservedMaintenance::default()
            },
            ..GcpObserved::default()
        });
        record(&mut st, &o);
        assert_eq!(
            st.maintenance.and_then(|m| m.window).as_deref(),
            Some("SATURDAY 23:00 UTC")
        );
        o.gcp = Some(GcpObserved::default());
        let mut st = RedisClusterStatus::default();
        record(&mut st, &o);
        assert_eq!(st.maintenance, None);
        assert_eq!(st.engine, None, "gcp reports no engine");
    }
}
