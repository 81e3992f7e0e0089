//! The ServerlessCache controller against a mock API and the scripted serverless fake: a first
//! pass, a cache becoming Ready, a steady pass (one list for the region, nothing written), a
//! spec edit applied one field at a time, and a deletion with its final snapshot. The region's
//! List serves every look; a Describe follows only the operator's own write.

use std::sync::Arc;

use cache_operator_api::ServerlessCache;
use cache_operator_cloud_fakes::FakeServerless;
use cache_operator_testkit::serverless;

use crate::controller::fixtures::{EVENT, FakeApi, Fakes, pass, said, serving, status_write};
use crate::controller::shared::fill::Fill;
use crate::controller::{Ctx, FINALIZER};

const ARN: &str = "arn:aws:elasticache:us-east-1:123456789012:serverlesscache:web";

async fn setup() -> (Arc<Ctx>, Arc<FakeServerless>, FakeApi, ServerlessCache) {
    let fakes = Fakes::default();
    let obj: ServerlessCache = serverless::new("web", "us-east-1")
        .namespace("shop")
        .uid("0b6c2a4e-1111")
        .generation(1)
        .finalizer(FINALIZER)
        .spec("majorEngineVersion", "8")
        .parse();
    let (ctx, api) = serving(Fill::default().build(), &fakes, &obj).await;
    (ctx, fakes.serverless, api, obj)
}

#[tokio::test]
async fn a_cache_is_created_reported_ready_and_then_left_alone() {
    let (ctx, cloud, api, obj) = setup().await;
    pass(&ctx, &obj).await.unwrap();
    assert_eq!(cloud.asked(), ["list us-east-1", "create web"]);
    assert_eq!(api.writes(), [status_write(&obj), EVENT.into()]);
    let (st, says) = api.status();
    assert_eq!(says, "Reconciling: Creating @1");
    assert_eq!(
        (&st["phase"], &st["cloudResource"], &st["cacheName"]),
        (&"Creating".into(), &ARN.into(), &"web".into())
    );

    cloud.settle();
    api.take();
    let created = api.get(&obj).unwrap();
    pass(&ctx, &created).await.unwrap();
    assert_eq!(
        cloud.asked(),
        ["get web"],
        "read once after our create; ours by the ARN recorded: no tag read"
    );
    let (st, says) = api.status();
    assert_eq!(says, "Ready: Available @1");
    assert_eq!(st["endpoint"]["port"], 6379);
    assert_eq!(st["readerEndpoint"]["port"], 6380);
    assert_eq!(
        (&st["engine"], &st["majorEngineVersion"]),
        (&"valkey".into(), &"8".into())
    );
    let note = format!("{ARN} is available at web.serverless.cache.amazonaws.com:6379");
    assert_eq!(api.events(), [said("Normal", "Available", &note)]);

    // Steady: one list of the region serves it, nothing is written.
    api.take();
    let ready = api.get(&obj).unwrap();
    ctx.serverless.expire();
    pass(&ctx, &ready).await.unwrap();
    assert_eq!(cloud.asked(), ["list us-east-1"]);
    assert_eq!(api.writes(), Vec::<String>::new());
}

#[tokio::test]
async fn an_edit_of_two_fields_is_two_modifies_each_after_available() {
    let (ctx, cloud, api, obj) = setup().await;
    pass(&ctx, &obj).await.unwrap();
    cloud.settle();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    cloud.asked();

    let mut edited: ServerlessCache = api.get(&obj).unwrap();
    edited.spec.snapshot_retention_limit = Some(4);
    edited.spec.daily_snapshot_time = Some("02:00".into());
    edited.metadata.generation = Some(2);
    api.put(&edited);
    pass(&ctx, &edited).await.unwrap();
    assert_eq!(
        cloud.asked(),
        ["modify web snapshot retention to 4 days"],
        "the region's List of this poll interval serves the look"
    );
    let (_, says) = api.status();
    assert_eq!(says, "Reconciling: Updating @2");
    // Still modifying (one Describe after our write): nothing is sent.
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(cloud.asked(), ["get web"]);
    // Within the poll interval nothing is read again; the next interval's List shows it done.
    cloud.settle();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(cloud.asked(), Vec::<String>::new());
    ctx.serverless.expire();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(
        cloud.asked(),
        ["list us-east-1", "modify web daily snapshot time to 02:00"]
    );
    cloud.settle();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(cloud.asked(), ["get web"]);
    assert_eq!(api.status().1, "Ready: Available @2");
}

#[tokio::test]
async fn deleting_takes_a_final_snapshot_and_releases_once_gone() {
    let (ctx, cloud, api, obj) = setup().await;
    pass(&ctx, &obj).await.unwrap();
    cloud.settle();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    cloud.asked();
    api.take();

    let mut leaving: ServerlessCache = api.get(&obj).unwrap();
    leaving.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
    );
    api.put(&leaving);
    pass(&ctx, &leaving).await.unwrap();
    assert_eq!(cloud.asked(), ["delete web web-final-0b6c2a4e"]);
    assert_eq!(cloud.snapshots(), ["web-final-0b6c2a4e"]);
    let (st, says) = api.status();
    assert_eq!(says, "Reconciling: Deleting @1");
    assert_eq!(st["finalSnapshot"], "web-final-0b6c2a4e");

    cloud.settle();
    pass(&ctx, &api.get(&obj).unwrap()).await.unwrap();
    assert_eq!(cloud.asked(), ["get web"]);
    assert!(
        api.events().iter().any(|e| e
            .2
            .contains("its final snapshot web-final-0b6c2a4e is kept")),
        "{:?}",
        api.events()
    );
}
