//! Watches: from a resourceVersion, bookmarks, timeoutSeconds, 410 Gone after compaction,
//! selector transitions, and kube's watcher resuming after dropped connections and
//! relisting after 410.

mod common;

use common::{Sim, eventually};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;
use std::time::Duration;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

async fn post(sim: &Sim, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(sim.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn watch_from_a_resource_version_sees_later_changes_in_order() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    api.create(&PostParams::default(), &cm("before"))
        .await
        .unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = api
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "w"}})),
    )
    .await
    .unwrap();
    api.delete("a", &Default::default()).await.unwrap();
    let events: Vec<_> = stream
        .try_filter(|e| futures::future::ready(!matches!(e, WatchEvent::Bookmark(_))))
        .take(3)
        .try_collect()
        .await
        .unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            _ => "OTHER",
        })
        .collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    // Resource versions increase; the DELETED event carries the deletion's version.
    let rvs: Vec<u64> = events
        .iter()
        .map(|e| match e {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => o
                .metadata
                .resource_version
                .clone()
                .unwrap()
                .parse()
                .unwrap(),
            _ => 0,
        })
        .collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");
}

#[tokio::test]
async fn bookmarks_and_timeout() {
    let sim = Sim::start_with(kubesim::Config {
        bookmark_interval: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let started = std::time::Instant::now();
    let stream = api
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap();
    // Writes elsewhere advance the global resourceVersion; bookmarks carry it.
    let other: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "kube-system");
    let written = other
        .create(&PostParams::default(), &cm("elsewhere"))
        .await
        .unwrap();
    let written_rv: u64 = written.metadata.resource_version.unwrap().parse().unwrap();
    let events: Vec<_> = stream.try_collect().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the watch ends after timeoutSeconds"
    );
    let bookmark_rvs: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Bookmark(b) => Some(b.metadata.resource_version.parse().unwrap()),
            _ => None,
        })
        .collect();
    assert!(bookmark_rvs.len() >= 2, "{events:?}");
    assert!(bookmark_rvs.iter().any(|rv| *rv >= written_rv));
    assert!(
        events.iter().all(|e| matches!(e, WatchEvent::Bookmark(_))),
        "other namespaces are not watched"
    );
}

#[tokio::test]
async fn too_old_resource_version_is_410_gone_after_compaction() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    api.create(&PostParams::default(), &cm("x")).await.unwrap();
    let compacted = post(&sim, "/_kubesim/compact").await;
    assert!(compacted["compactedTo"].is_string());
    let mut stream = api
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    match stream.next().await.unwrap().unwrap() {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
            assert!(
                e.message.starts_with("too old resource version"),
                "{}",
                e.message
            );
        }
        other => panic!("expected an ERROR event, got {other:?}"),
    }
    // A continue token from before the compaction is expired too.
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("p{i}")))
            .await
            .unwrap();
    }
    let page = api.list(&ListParams::default().limit(1)).await.unwrap();
    api.create(&PostParams::default(), &cm("after"))
        .await
        .unwrap();
    post(&sim, "/_kubesim/compact").await;
    let e = common::api_error(
        api.list(
            &ListParams::default()
                .limit(1)
                .continue_token(&page.metadata.continue_.unwrap()),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
}

#[tokio::test]
async fn label_selector_watches_see_objects_enter_and_leave() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    api.create(&PostParams::default(), &cm("x")).await.unwrap();
    let rv = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = api
        .watch(&WatchParams::default().labels("sel=yes").timeout(10), &rv)
        .await
        .unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": "yes"}}})),
    )
    .await
    .unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    api.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"sel": "no"}}})),
    )
    .await
    .unwrap();
    let kinds: Vec<&str> = stream
        .take(3)
        .map(|e| match e.unwrap() {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            _ => "OTHER",
        })
        .collect()
        .await;
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
}

async fn watch_count(sim: &Sim) -> u64 {
    let stats: serde_json::Value = reqwest::get(sim.url("/_kubesim/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["byResource"]["configmaps"]["watch"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test]
async fn watcher_resumes_after_dropped_connections_and_relists_after_410() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    for i in 0..5 {
        api.create(&PostParams::default(), &cm(&format!("init-{i}")))
            .await
            .unwrap();
    }
    let (reader, writer) = reflector::store();
    let cfg = watcher::Config::default().page_size(2);
    let stream = reflector(writer, watcher(api.clone(), cfg)).applied_objects();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while stream.next().await.is_some() {}
    });
    let names = |r: &reflector::Store<ConfigMap>| {
        let mut n: Vec<String> = r
            .state()
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        n.sort();
        n
    };
    eventually("the initial paginated list", || {
        let r = reader.clone();
        async move { (r.state().len() == 5).then_some(()) }
    })
    .await;
    let first_watches = watch_count(&sim).await;

    // Drop every watch: the watcher re-watches from its last resourceVersion.
    let dropped = post(&sim, "/_kubesim/drop-watches").await;
    assert!(dropped["dropped"].as_u64().unwrap() >= 1);
    api.create(&PostParams::default(), &cm("after-drop"))
        .await
        .unwrap();
    api.delete("init-0", &Default::default()).await.unwrap();
    eventually("the change made after the drop", || {
        let r = reader.clone();
        async move {
            let n = names(&r);
            (n.contains(&"after-drop".to_string()) && !n.contains(&"init-0".to_string()))
                .then_some(())
        }
    })
    .await;
    assert!(
        watch_count(&sim).await > first_watches,
        "the watcher opened a new watch"
    );

    // Drop and compact: re-watching gets 410 and the watcher relists.
    post(&sim, "/_kubesim/compact").await;
    post(&sim, "/_kubesim/drop-watches").await;
    api.create(&PostParams::default(), &cm("after-compaction"))
        .await
        .unwrap();
    eventually("the relist after 410", || {
        let r = reader.clone();
        async move {
            names(&r)
                .contains(&"after-compaction".to_string())
                .then_some(())
        }
    })
    .await;
    let mut expected: Vec<String> = (1..5).map(|i| format!("init-{i}")).collect();
    expected.extend(["after-compaction".to_string(), "after-drop".to_string()]);
    expected.sort();
    assert_eq!(names(&reader), expected);
    task.abort();
}

#[tokio::test]
async fn streaming_lists_end_with_an_initial_events_bookmark() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("s-{i}")))
            .await
            .unwrap();
    }
    let stream = watcher(api.clone(), watcher::Config::default().streaming_lists());
    futures::pin_mut!(stream);
    let mut init = Vec::new();
    loop {
        match stream.next().await.unwrap().unwrap() {
            watcher::Event::Init => {}
            watcher::Event::InitApply(o) => init.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(init, ["s-0", "s-1", "s-2"]);
    api.create(&PostParams::default(), &cm("live"))
        .await
        .unwrap();
    match stream.next().await.unwrap().unwrap() {
        watcher::Event::Apply(o) => assert_eq!(o.metadata.name.as_deref(), Some("live")),
        other => panic!("unexpected {other:?}"),
    }
}
