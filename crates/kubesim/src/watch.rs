//! Watch streams: newline-delimited `{"type","object"}` events from a resourceVersion, with
//! initial events (rv unset/"0" or `sendInitialEvents`), bookmarks, selector transitions
//! (an object leaving a selector is DELETED for that watch), `410 Gone` as an ERROR event
//! for versions no longer in the history, `timeoutSeconds`, and an admin drop switch.

use bytes::Bytes;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::api::Core;
use crate::error::ApiError;
use crate::registry::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::EventKind;
use crate::table::{self, IncludeObject};

/// How each event's object is rendered.
#[derive(Debug, Clone, Copy)]
pub enum Render {
    Json,
    Table(IncludeObject),
    Metadata,
}

pub struct WatchRequest {
    pub def: Arc<ResourceDef>,
    pub ns: Option<String>,
    pub label: LabelSelector,
    pub field: FieldSelector,
    /// `None` for unset.
    pub resource_version: Option<String>,
    pub send_initial_events: Option<bool>,
    pub bookmarks: bool,
    pub timeout: Duration,
    pub render: Render,
}

/// Shared switches: closing every watch (admin) and shutdown.
pub struct WatchControl {
    pub drops: watch::Sender<u64>,
    pub shutdown: CancellationToken,
    pub active: AtomicUsize,
    pub bookmark_interval: Duration,
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn render(req: &WatchRequest, core: &Core, stored: &Value) -> Value {
    let shown = core.to_req(&req.def, stored);
    match req.render {
        Render::Json => shown,
        Render::Metadata => table::partial_metadata(&shown),
        Render::Table(include) => table::table(
            &req.def,
            &[shown],
            include,
            json!({"resourceVersion": ""}),
            true,
        ),
    }
}

fn bookmark(req: &WatchRequest, rv: u64, initial_end: bool) -> Value {
    let (kind, api_version) = match req.render {
        Render::Json => (req.def.kind.clone(), req.def.api_version()),
        Render::Metadata => (
            "PartialObjectMetadata".to_string(),
            "meta.k8s.io/v1".to_string(),
        ),
        Render::Table(_) => ("Table".to_string(), "meta.k8s.io/v1".to_string()),
    };
    let mut md = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        md["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": kind, "apiVersion": api_version, "metadata": md})
}

fn error_event(e: &ApiError) -> Bytes {
    line("ERROR", e.to_status())
}

/// Starts the watch; events are sent on the returned channel until it ends.
pub fn start(core: Arc<Core>, ctl: Arc<WatchControl>, req: WatchRequest) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel::<Bytes>(512);
    tokio::spawn(async move {
        ctl.active.fetch_add(1, Ordering::SeqCst);
        run(&core, &ctl, &req, &tx).await;
        ctl.active.fetch_sub(1, Ordering::SeqCst);
    });
    rx
}

async fn run(core: &Core, ctl: &WatchControl, req: &WatchRequest, tx: &mpsc::Sender<Bytes>) {
    let mut notify = core.store.subscribe();
    let mut drops = ctl.drops.subscribe();
    drops.borrow_and_update();
    let ns = req.ns.as_deref().filter(|_| req.def.namespaced);
    let matches = |o: &Value| req.label.matches(o) && req.field.matches(o);
    let rv_param = req.resource_version.as_deref().unwrap_or("");
    let initial = match req.send_initial_events {
        Some(b) => b,
        None => rv_param.is_empty() || rv_param == "0",
    };
    let mut cursor: u64;
    if initial {
        let (items, rv) = core.store.snapshot(&req.def.storage, ns, &matches);
        cursor = rv;
        for o in items {
            if tx.send(line("ADDED", render(req, core, &o))).await.is_err() {
                return;
            }
        }
        if req.send_initial_events == Some(true)
            && tx
                .send(line("BOOKMARK", bookmark(req, cursor, true)))
                .await
                .is_err()
        {
            return;
        }
    } else if rv_param.is_empty() || rv_param == "0" {
        cursor = core.store.current_rv();
    } else {
        let Ok(rv) = rv_param.parse::<u64>() else {
            let _ = tx
                .send(error_event(&ApiError::bad_request(format!(
                    "invalid resource version: {rv_param}"
                ))))
                .await;
            return;
        };
        let current = core.store.current_rv();
        if rv > current {
            let _ = tx
                .send(error_event(&ApiError::too_large_resource_version(
                    rv, current,
                )))
                .await;
            return;
        }
        cursor = rv;
    }
    let deadline = tokio::time::sleep(req.timeout);
    tokio::pin!(deadline);
    let mut bookmarks = tokio::time::interval(ctl.bookmark_interval);
    bookmarks.reset();
    loop {
        // Deliver everything after the cursor.
        match core.store.events_since(cursor) {
            Err(floor) => {
                let e = ApiError::expired(format!("too old resource version: {cursor} ({floor})"));
                let _ = tx.send(error_event(&e)).await;
                return;
            }
            Ok(events) => {
                for ev in events {
                    cursor = ev.rv;
                    if ev.storage != req.def.storage || ns.is_some_and(|n| n != ev.key.0) {
                        continue;
                    }
                    let now = matches(&ev.object);
                    let before = ev.prev.as_deref().is_some_and(&matches);
                    let kind = match ev.kind {
                        EventKind::Added if now => "ADDED",
                        EventKind::Modified if now && before => "MODIFIED",
                        EventKind::Modified if now => "ADDED",
                        EventKind::Modified if before => "DELETED",
                        EventKind::Deleted if now || before => "DELETED",
                        _ => continue,
                    };
                    // An object that stops matching is deleted for this watch as it was last
                    // seen (the previous state), at the change's resourceVersion.
                    let object = match (ev.kind, kind, ev.prev.as_deref()) {
                        (EventKind::Modified, "DELETED", Some(prev)) => {
                            let mut p = prev.clone();
                            crate::meta::meta_mut(&mut p)
                                .insert("resourceVersion".into(), json!(ev.rv.to_string()));
                            std::borrow::Cow::Owned(p)
                        }
                        _ => std::borrow::Cow::Borrowed(&*ev.object),
                    };
                    if tx
                        .send(line(kind, render(req, core, &object)))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        // A resource that stopped being served (its CRD is gone) ends its watches, after
        // the deletions of its objects have been delivered.
        let d = &req.def;
        if d.crd_name.is_some()
            && core
                .registry()
                .get(&d.group, &d.version, &d.plural)
                .is_none()
        {
            return;
        }
        tokio::select! {
            changed = notify.changed() => if changed.is_err() { return },
            _ = drops.changed() => return,
            _ = ctl.shutdown.cancelled() => return,
            _ = tx.closed() => return,
            _ = &mut deadline => {
                if req.bookmarks {
                    let _ = tx.send(line("BOOKMARK", bookmark(req, cursor, false))).await;
                }
                return;
            }
            _ = bookmarks.tick(), if req.bookmarks => {
                if tx.send(line("BOOKMARK", bookmark(req, cursor, false))).await.is_err() {
                    return;
                }
            }
        }
    }
}
