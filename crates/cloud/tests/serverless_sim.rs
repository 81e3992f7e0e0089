//! The serverless cache client against the cloud simulator: a listing over several pages
//! (`MaxResults`/`NextToken`), create with the owner tags, one field per modify, the state
//! rule, and delete with a final snapshot.

mod common;

use std::sync::Arc;

use cache_operator_api::ServerlessCache;
use cache_operator_api::model::serverless::DesiredServerless;
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud::aws::serverless::{ServerlessCaches, ServerlessChange, changes};
use cache_operator_cloud::aws::{AwsClients, AwsServerless};
use cache_operator_cloud::error::NoObserver;
use cache_operator_cloud::provider::Owner;
use cache_operator_testkit::serverless;

use common::{eventually, sim};

async fn client(sim: &cloudsim::Running) -> AwsServerless {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDCLOUDSIM",
            "cloudsim-secret-access-key",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    AwsServerless::new(AwsClients::from_config(
        conf,
        Some(sim.base_url().to_owned()),
        Arc::new(NoObserver),
    ))
    .with_page_size(2)
}

fn owner() -> Owner {
    Owner {
        uid: "7c1e0a52-0000-4000-8000-00000000000a".into(),
        namespace: "shop".into(),
        name: "web".into(),
        generation: 1,
        attempt: 0,
    }
}

fn desired(name: &str) -> DesiredServerless {
    let c: ServerlessCache = serverless::new(name, "eu-west-1")
        .spec("majorEngineVersion", "8")
        .set("/spec/usageLimits/dataStorage/maximum", 10)
        .set("/spec/tags/team", "web")
        .parse();
    c.desired().unwrap()
}

async fn available(api: &AwsServerless, name: &str) {
    eventually("available", || async {
        let c = api.get("eu-west-1", name).await.ok()??;
        (c.status == "available").then_some(())
    })
    .await;
}

#[tokio::test]
async fn serverless_caches_through_their_lifecycle() {
    let sim = sim(false).await;
    let api = client(&sim).await;
    for name in ["web-a", "web-b", "web-c"] {
        let created = api.create(&desired(name), &owner()).await.unwrap();
        assert_eq!(
            (created.name.as_str(), created.status.as_str()),
            (name, "creating")
        );
    }
    let listed = api.list("eu-west-1").await.unwrap();
    let mut names: Vec<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["web-a", "web-b", "web-c"],
        "three caches over two pages"
    );
    assert_eq!(api.get("eu-west-1", "nothing").await.unwrap(), None);

    // Owned by tag; the tag is readable once the cache is available.
    available(&api, "web-a").await;
    let c = api.get("eu-west-1", "web-a").await.unwrap().unwrap();
    assert_eq!(
        api.owner_uid("eu-west-1", &c.arn).await.unwrap().as_deref(),
        Some(owner().uid.as_str())
    );
    assert_eq!(c.usage_limits, desired("web-a").usage_limits);
    assert_eq!(changes(&desired("web-a"), &c), []);

    // One field per call, only while available.
    let mut d = desired("web-a");
    d.snapshot_retention_limit = Some(4);
    d.daily_snapshot_time = Some("03:00".into());
    let todo = changes(&d, &c);
    assert_eq!(todo.len(), 2);
    api.modify("eu-west-1", "web-a", &todo[0]).await.unwrap();
    let busy = api
        .modify("eu-west-1", "web-a", &todo[1])
        .await
        .unwrap_err();
    assert!(busy.is(ErrorClass::FailedPrecondition), "{busy}");
    available(&api, "web-a").await;
    api.modify("eu-west-1", "web-a", &todo[1]).await.unwrap();
    available(&api, "web-a").await;
    let c = api.get("eu-west-1", "web-a").await.unwrap().unwrap();
    assert_eq!(changes(&d, &c), []);
    // Valkey back to Redis OSS is refused as the service refuses it.
    let back = ServerlessChange::Engine {
        engine: cache_operator_api::model::AwsEngine::Redis,
        major: Some("7".into()),
    };
    let refused = api.modify("eu-west-1", "web-a", &back).await.unwrap_err();
    assert!(refused.is(ErrorClass::InvalidArgument), "{refused}");

    api.delete("eu-west-1", "web-a", Some("web-a-final-7c1e0a52"))
        .await
        .unwrap();
    eventually("gone", || async {
        api.get("eu-west-1", "web-a")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}
