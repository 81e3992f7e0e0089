//! Watch: from a resourceVersion, the initial events of a streaming list with their bookmark,
//! periodic bookmarks, and 410 Gone for a resourceVersion older than the server keeps.

use std::time::Duration;

use http::Method;
use serde_json::{Value, json};

use crate::crds::{self, cache};
use crate::harness::*;

fn rv(r: &Reply) -> String {
    r.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn watch_from_a_resource_version_sees_every_change() {
    let b = Both::new("watch").await;
    crds::install_cache(&b).await;
    let base = format!("/apis/fixtures.kubesim.dev/v1/namespaces/{}/caches", b.ns);
    let [r, s] = b.call(Method::GET, &base, JSON, &Value::Null).await;
    let rvs = [rv(&r), rv(&s)];
    b.same(
        Method::POST,
        &base,
        JSON,
        &cache(
            "w1",
            json!({"provider": "gcp", "instanceId": "w-1", "shardCount": 1}),
        ),
    )
    .await;
    b.same(
        Method::POST,
        &base,
        JSON,
        &cache(
            "w2",
            json!({"provider": "aws", "instanceId": "w-2", "shardCount": 2}),
        ),
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{base}/w1"),
        MERGE,
        &json!({"metadata": {"labels": {"team": "a"}}}),
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{base}/w1/status"),
        MERGE,
        &json!({"status": {"phase": "Ready"}}),
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{base}/w1"),
        MERGE,
        &json!({"metadata": {"labels": {"team": "b"}}}),
    )
    .await;
    b.same(Method::DELETE, &format!("{base}/w2"), JSON, &Value::Null)
        .await;
    let watch = |rv: &str, query: &str| format!("{base}?watch=true&resourceVersion={rv}{query}");
    let [r, s] = b
        .watch_each(
            [&watch(&rvs[0], ""), &watch(&rvs[1], "")],
            6,
            Duration::from_secs(10),
        )
        .await;
    b.expect_eq(
        "the events from the list's resourceVersion",
        normalize(&json!(r)),
        normalize(&json!(s)),
    );
    // With a label selector, an object that stops matching is DELETED for that watch.
    let selected = "&labelSelector=team%3Da";
    let [r, s] = b
        .watch_each(
            [&watch(&rvs[0], selected), &watch(&rvs[1], selected)],
            5,
            Duration::from_secs(3),
        )
        .await;
    b.expect_eq(
        "the events of a label-selected watch",
        normalize(&json!(r)),
        normalize(&json!(s)),
    );
    b.done();
}

#[tokio::test]
async fn streaming_lists_end_their_initial_events_with_a_bookmark() {
    let b = Both::new("watch-list").await;
    crds::install_cache(&b).await;
    let base = format!("/apis/fixtures.kubesim.dev/v1/namespaces/{}/caches", b.ns);
    for n in ["s1", "s2"] {
        b.same(
            Method::POST,
            &base,
            JSON,
            &cache(
                n,
                json!({"provider": "gcp", "instanceId": n, "shardCount": 1}),
            ),
        )
        .await;
    }
    let path = format!(
        "{base}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    );
    let [r, s] = b
        .watch_each([&path, &path], 3, Duration::from_secs(10))
        .await;
    b.expect_eq(
        "a streaming list",
        normalize(&json!(r)),
        normalize(&json!(s)),
    );
    // Without sendInitialEvents, resourceVersion 0 starts with the current objects.
    let path = format!("{base}?watch=true&resourceVersion=0");
    let [r, s] = b
        .watch_each([&path, &path], 2, Duration::from_secs(10))
        .await;
    b.expect_eq("a watch from 0", normalize(&json!(r)), normalize(&json!(s)));
    b.done();
}

/// When periodic bookmarks come is the server's choice: the real one sends them about every
/// minute and 2 s before the timeout, and only once its watch cache has moved past the watch's
/// resourceVersion (so an idle short watch often gets none); kubesim sends one every
/// `bookmark_interval` and at the timeout. What both must do: end the stream at
/// `timeoutSeconds`, with nothing but bookmarks on an idle watch.
#[tokio::test]
async fn an_idle_watch_ends_at_its_timeout() {
    let b = Both::new("timeout").await;
    crds::install_cache(&b).await;
    let base = format!("/apis/fixtures.kubesim.dev/v1/namespaces/{}/caches", b.ns);
    let [r, s] = b.call(Method::GET, &base, JSON, &Value::Null).await;
    let path = |rv: &str| {
        format!("{base}?watch=true&allowWatchBookmarks=true&timeoutSeconds=3&resourceVersion={rv}")
    };
    let started = std::time::Instant::now();
    let [r, s] = b
        .watch_each(
            [&path(&rv(&r)), &path(&rv(&s))],
            10,
            Duration::from_secs(20),
        )
        .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2900) && elapsed < Duration::from_secs(15),
        "the watches ended after {elapsed:?}"
    );
    let not_bookmarks =
        |events: &[Value]| events.iter().filter(|e| e["type"] != "BOOKMARK").count();
    b.expect_eq(
        "events on an idle watch",
        not_bookmarks(&r),
        not_bookmarks(&s),
    );
    b.done();
}

#[tokio::test]
async fn a_resource_version_older_than_the_server_keeps_is_gone() {
    let b = Both::new("gone").await;
    crds::install_cache(&b).await;
    let base = format!("/apis/fixtures.kubesim.dev/v1/namespaces/{}/caches", b.ns);
    b.same(
        Method::POST,
        &base,
        JSON,
        &cache(
            "g1",
            json!({"provider": "gcp", "instanceId": "g-1", "shardCount": 1}),
        ),
    )
    .await;
    // The real server keeps a window of changes per resource in its watch cache, which for a
    // custom resource starts when its CRD is established: resourceVersion 1 is older than that.
    // kubesim keeps one history for everything: forgetting it is its equivalent.
    let compact = b
        .sim
        .call(Method::POST, "/_kubesim/compact", JSON, &Value::Null)
        .await;
    assert_eq!(compact.status, 200, "{compact:?}");
    let path = format!("{base}?watch=true&resourceVersion=1");
    let [r, s] = b
        .watch_each([&path, &path], 2, Duration::from_secs(5))
        .await;
    b.expect_eq(
        "a watch from a compacted resourceVersion",
        gone_numbers(normalize(&json!(r))),
        gone_numbers(normalize(&json!(s))),
    );
    b.done();
}

/// `too old resource version: 1 (226)`: the numbers are each server's own.
fn gone_numbers(v: Value) -> Value {
    let re = regex::Regex::new(r"too old resource version: \d+ \(\d+\)").unwrap();
    serde_json::from_str(&re.replace_all(&v.to_string(), "too old resource version: N (M)"))
        .unwrap()
}
