//! The RedisCluster controller against a mock API and a cloud whose answers each test sets:
//! the status and events of a first pass, of a cluster becoming Ready, of a pass with nothing
//! to do, and of each class of cloud error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cache_operator_api::RedisCluster;
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::provider::{
    Change, Claim, ClusterProvider, ClusterState, Created, FinalBackup, ObservedBackup,
    ObservedCluster, OperationState, Owner, Progress, Scope,
};
use cache_operator_cloud::{CloudError, ErrorClass};
use cache_operator_testkit::cluster;
use kube::runtime::controller::Action;

use super::fixtures::{RES, observed};
use crate::context::Providers;
use crate::controller::fixtures::{Clouds, EVENT, FakeApi, pass, said, serving, status_write};
use crate::controller::shared::fill::Fill;
use crate::controller::{Ctx, Error, FINALIZER, Step};

/// A cloud that reports `cluster`, fails the call named in `failing`, and remembers what it
/// was asked.
#[derive(Default)]
struct Cloud {
    cluster: Mutex<Option<ObservedCluster>>,
    failing: Mutex<Option<(&'static str, CloudError)>>,
    asked: Mutex<Vec<&'static str>>,
}

impl Cloud {
    fn ask(&self, call: &'static str) -> Result<(), CloudError> {
        self.asked.lock().unwrap().push(call);
        match &*self.failing.lock().unwrap() {
            Some((failing, e)) if *failing == call => Err(e.clone()),
            _ => Ok(()),
        }
    }

    fn observed(&self) -> Option<ObservedCluster> {
        self.cluster.lock().unwrap().clone()
    }

    fn report(&self, state: ClusterState) {
        *self.cluster.lock().unwrap() = Some(observed(state));
    }

    fn fail(&self, call: &'static str, class: ErrorClass) {
        let e = CloudError::new(class, "CODE", "no", format!("memorystore clusters.{call}"));
        *self.failing.lock().unwrap() = Some((call, e));
    }

    /// What it was asked since the last look.
    fn asked(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.asked.lock().unwrap())
    }
}

type D = DesiredCluster;
type O = ObservedCluster;
type R<T> = Result<T, CloudError>;

#[async_trait]
impl ClusterProvider for Cloud {
    fn changes(&self, _: &D, _: &O) -> Vec<Change> {
        Vec::new()
    }
    async fn list(&self, _: &Scope) -> R<Vec<O>> {
        self.ask("list")?;
        Ok(self.observed().into_iter().collect())
    }
    async fn get(&self, _: &D) -> R<Option<O>> {
        self.ask("get").map(|()| self.observed())
    }
    async fn create(&self, _: &D, _: &Owner) -> R<Created> {
        let progress = Progress::Operation("operations/op-1".into());
        let resource = RES.into();
        self.ask("create").map(|()| Created { progress, resource })
    }
    async fn claim(&self, _: &D, _: &Owner, _: &O) -> R<Claim> {
        self.ask("claim").map(|()| Claim::Ours)
    }
    async fn adopt(&self, _: &D, _: &Owner, _: &O) -> R<()> {
        self.ask("adopt")
    }
    async fn apply(&self, _: &D, _: &Change, _: &Owner) -> R<Progress> {
        self.ask("patch").map(|()| Progress::Started)
    }
    async fn delete(&self, _: &D, _: &Owner) -> R<Progress> {
        self.ask("delete").map(|()| Progress::Started)
    }
    async fn operation(&self, _: &str) -> R<OperationState> {
        self.ask("operation").map(|()| OperationState::Done)
    }
    async fn ca_certificates(&self, _: &D) -> R<Vec<String>> {
        let ca = vec!["-----BEGIN CERTIFICATE-----".into()];
        self.ask("ca").map(|()| ca)
    }
    async fn backup(&self, _: &D, _: &str) -> R<Progress> {
        self.ask("backup").map(|()| Progress::Started)
    }
    async fn backups(&self, _: &D) -> R<Vec<ObservedBackup>> {
        self.ask("backups").map(|()| Vec::new())
    }
    async fn final_backup(&self, _: &D, _: &Owner, _: &str) -> R<FinalBackup> {
        self.ask("final_backup")
            .map(|()| FinalBackup::WithDelete(Progress::Started))
    }
}

/// A context on the mock API and `cloud`, and `orders` (gcp, generation 1, with our finalizer)
/// stored in the API.
async fn setup() -> (Arc<Ctx>, Arc<Cloud>, FakeApi, RedisCluster) {
    let cloud = Arc::new(Cloud::default());
    let providers = Providers {
        gcp: cloud.clone(),
        aws: cloud.clone(),
    };
    let clouds = Clouds::nowhere().providers(providers);
    let obj: RedisCluster = cluster::gcp("orders")
        .namespace("shop")
        .uid("uid-1")
        .generation(1)
        .finalizer(FINALIZER)
        .parse();
    let (ctx, api) = serving(Fill::default().build(), clouds, &obj).await;
    (ctx, cloud, api, obj)
}

#[tokio::test]
async fn a_first_pass_creates_the_cluster_and_says_so() {
    let (ctx, cloud, api, obj) = setup().await;
    let action = pass(&ctx, &obj).await.unwrap();
    // The pass wrote the status: that write's watch event brings the next pass; the poll
    // interval is only the fallback.
    assert_eq!(action, Action::requeue(ctx.timing.poll));
    assert_eq!(cloud.asked(), ["get", "create"]);
    assert_eq!(api.writes(), [status_write(&obj), EVENT.into()]);
    let (st, says) = api.status();
    assert_eq!(says, "Reconciling: Creating @1");
    assert_eq!(
        (&st["phase"], &st["observedGeneration"], &st["instanceId"]),
        (&"Creating".into(), &1.into(), &"orders".into())
    );
    assert_eq!(
        (&st["cloudResource"], &st["operation"]),
        (&RES.into(), &"operations/op-1".into())
    );
    let note = format!("creating {RES} in us-central1");
    assert_eq!(api.events(), [said("Normal", "Creating", &note)]);
}

#[tokio::test]
async fn an_available_cluster_is_reported_ready_once_and_then_left_alone() {
    let (ctx, cloud, api, obj) = setup().await;
    pass(&ctx, &obj).await.unwrap();
    cloud.asked();
    api.take();

    cloud.report(ClusterState::Available);
    let created = api.get(&obj).unwrap();
    pass(&ctx, &created).await.unwrap();
    assert_eq!(cloud.asked(), ["get", "operation", "ca"]);
    assert_eq!(api.writes(), [status_write(&obj), EVENT.into()]);
    let (st, says) = api.status();
    assert_eq!(says, "Ready: Available @1");
    assert_eq!(st["phase"], "Ready");
    assert_eq!(st["endpoints"]["discovery"][0]["host"], "10.0.0.5");
    assert_eq!(st["caCertificate"], "-----BEGIN CERTIFICATE-----");
    assert!(st.get("operation").is_none(), "the operation is over: {st}");
    let note = format!("{RES} is available at 10.0.0.5:6379");
    assert_eq!(api.events(), [said("Normal", "Available", &note)]);

    // Nothing changed: the shared list answers, and nothing is written.
    api.take();
    let ready = api.get(&obj).unwrap();
    pass(&ctx, &ready).await.unwrap();
    assert_eq!(cloud.asked(), ["list"]);
    assert_eq!(api.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn each_class_of_cloud_error_ends_the_pass_as_it_should() {
    let max_backoff = Action::requeue(Duration::from_secs(300));
    // Every row writes the status, so the next pass comes from its watch event (the poll
    // interval as fallback).
    let poll = Action::requeue(crate::context::Timing::default().poll);
    // class → (what the pass returns, phase, conditions, event type)
    #[rustfmt::skip]
    let table = [
        (ErrorClass::InvalidArgument,    Ok(Action::await_change()), "Failed",  "Stalled: CloudInvalidArgument @1",   "Warning"),
        (ErrorClass::QuotaExceeded,      Ok(Action::await_change()), "Failed",  "Stalled: CloudInvalidArgument @1",   "Warning"),
        (ErrorClass::PermissionDenied,   Ok(max_backoff.clone()),    "Failed",  "Stalled: PermissionDenied @1",       "Warning"),
        (ErrorClass::FailedPrecondition, Ok(poll),                   "Pending", "Reconciling: CloudFailedPrecondition @1", "Normal"),
        (ErrorClass::Unavailable,        Err(Step::Apply),           "Pending", "Reconciling: CloudUnavailable @1",       "Warning"),
        (ErrorClass::Throttled,          Err(Step::Apply),           "Pending", "Reconciling: CloudUnavailable @1",       "Warning"),
    ];
    for (class, returns, phase, conditions, event) in table {
        let (ctx, cloud, api, obj) = setup().await;
        cloud.fail("create", class);
        let result = pass(&ctx, &obj).await;
        match (&result, &returns) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{class:?}"),
            (Err(Error::Cloud { step, source }), Err(want)) => {
                assert_eq!((step, source.class), (want, class));
            }
            _ => panic!("{class:?}: {result:?}"),
        }
        let (st, says) = api.status();
        let got = (st["phase"].as_str(), says.as_str());
        assert_eq!(got, (Some(phase), conditions), "{class:?}");
        let events = api.events();
        let (type_, reason, note) = &events[0];
        assert_eq!((type_.as_str(), events.len()), (event, 1), "{class:?}");
        assert_eq!(
            Some(reason.as_str()),
            conditions.split(' ').nth(1),
            "{class:?}"
        );
        assert!(
            note.contains("memorystore clusters.create"),
            "{class:?}: {note}"
        );
    }
}

#[tokio::test]
async fn a_refused_generation_is_not_sent_again() {
    let (ctx, cloud, api, obj) = setup().await;
    cloud.fail("create", ErrorClass::InvalidArgument);
    pass(&ctx, &obj).await.unwrap();
    cloud.asked();
    api.take();
    let refused = api.get(&obj).unwrap();
    let action = pass(&ctx, &refused).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(cloud.asked(), Vec::<&str>::new());
    assert_eq!(api.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn a_ready_cluster_that_could_not_be_looked_at_stays_ready() {
    let (ctx, cloud, api, obj) = setup().await;
    pass(&ctx, &obj).await.unwrap();
    cloud.report(ClusterState::Available);
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    cloud.asked();
    api.take();

    cloud.fail("list", ErrorClass::Unavailable);
    let result = pass(&ctx, &api.get(&obj).unwrap()).await;
    assert!(
        matches!(
            &result,
            Err(Error::Cloud {
                step: Step::Observe,
                ..
            })
        ),
        "{result:?}"
    );
    assert_eq!(cloud.asked(), ["list"]);
    assert_eq!(api.writes(), Vec::<String>::new(), "Ready stays as it was");
}
