//! The controllers a real control plane runs and that clients observe: the garbage collector
//! (ownerReferences with Background, Foreground and Orphan propagation), namespace deletion,
//! and CRD deletion (removing every custom resource first). Driven by the store's change feed.

use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::{Core, DeleteOptions, FOREGROUND, ORPHAN, Propagation, Subresource};
use crate::crd::CLEANUP_FINALIZER;
use crate::meta;
use crate::registry::{GroupResource, ResourceDef};
use crate::store::{EventKind, ObjKey, StoredEvent};

const GC: &str = "kube-controller-manager";

pub async fn run(
    core: Arc<Core>,
    mut rx: mpsc::UnboundedReceiver<Arc<StoredEvent>>,
    stop: CancellationToken,
) {
    loop {
        let ev = tokio::select! {
            _ = stop.cancelled() => return,
            ev = rx.recv() => match ev { Some(ev) => ev, None => return },
        };
        handle(&core, &ev);
    }
}

fn def_for(core: &Core, gr: &GroupResource) -> Option<Arc<ResourceDef>> {
    core.registry().for_storage(gr)
}

fn handle(core: &Core, ev: &StoredEvent) {
    let obj = &ev.object;
    match ev.kind {
        EventKind::Deleted => {
            let uid = meta::uid(obj);
            for dep in core.store.dependents_of(uid) {
                gc_dependent(core, &dep.0, &dep.1);
            }
            for r in meta::owner_refs(obj) {
                if let Some((gr, owner)) = core.store.get_by_uid(&r.uid)
                    && meta::deletion_timestamp(&owner).is_some()
                {
                    let key = (
                        meta::namespace(&owner).to_string(),
                        meta::name(&owner).to_string(),
                    );
                    if meta::finalizers(&owner).iter().any(|f| f == FOREGROUND) {
                        check_foreground(core, &gr, &key);
                    }
                }
            }
            let ns = &ev.key.0;
            if !ns.is_empty() && core.store.namespace_is_empty(ns) {
                finalize_namespace(core, ns);
            }
            if core.store.count(&ev.storage) == 0
                && let Some(def) = def_for(core, &ev.storage)
                && let Some(crd) = &def.crd_name
            {
                release_crd(core, crd);
            }
        }
        EventKind::Added | EventKind::Modified => {
            if meta::deletion_timestamp(obj).is_some() {
                let fins = meta::finalizers(obj);
                if fins.iter().any(|f| f == ORPHAN) {
                    orphan(core, &ev.storage, &ev.key, obj);
                }
                if fins.iter().any(|f| f == FOREGROUND) {
                    foreground(core, &ev.storage, &ev.key, obj);
                }
                if ev.storage == GroupResource::new("", "namespaces") {
                    sweep_namespace(core, &ev.key.1);
                }
                if ev.storage
                    == GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions")
                {
                    sweep_crd(core, &ev.key.1);
                }
            }
            if ev.kind == EventKind::Added || owners_changed(ev) {
                // A dependent whose owner is already gone is collected, as the real GC does.
                gc_dependent(core, &ev.storage, &ev.key);
            }
        }
    }
}

fn owners_changed(ev: &StoredEvent) -> bool {
    let refs = |v: &Value| v.pointer("/metadata/ownerReferences").cloned();
    ev.prev.as_ref().is_none_or(|p| refs(p) != refs(&ev.object))
}

enum OwnerState {
    Solid,
    Waiting,
    Absent,
    Unknown,
}

fn owner_state(core: &Core, r: &meta::OwnerRef) -> OwnerState {
    match core.store.get_by_uid(&r.uid) {
        Some((_, o)) => {
            if meta::deletion_timestamp(&o).is_some()
                && meta::finalizers(&o).iter().any(|f| f == FOREGROUND)
            {
                OwnerState::Waiting
            } else {
                OwnerState::Solid
            }
        }
        None => {
            if core.registry().by_kind(&r.api_version, &r.kind).is_some() {
                OwnerState::Absent
            } else {
                OwnerState::Unknown
            }
        }
    }
}

fn gc_dependent(core: &Core, gr: &GroupResource, key: &ObjKey) {
    let Some(obj) = core.store.get(gr, &key.0, &key.1) else {
        return;
    };
    let refs = meta::owner_refs(&obj);
    if refs.is_empty() {
        return;
    }
    let states: Vec<OwnerState> = refs.iter().map(|r| owner_state(core, r)).collect();
    let absent: Vec<String> = refs
        .iter()
        .zip(&states)
        .filter(|(_, s)| matches!(s, OwnerState::Absent))
        .map(|(r, _)| r.uid.clone())
        .collect();
    let solid = states
        .iter()
        .any(|s| matches!(s, OwnerState::Solid | OwnerState::Unknown));
    let waiting = states.iter().any(|s| matches!(s, OwnerState::Waiting));
    let Some(def) = def_for(core, gr) else { return };
    if absent.is_empty() && !waiting {
        return;
    }
    if solid {
        if !absent.is_empty() {
            let _ = core.modify(&def, &key.0, &key.1, Subresource::Main, GC, &mut |o| {
                remove_owner_refs(o, &absent);
                true
            });
        }
        return;
    }
    if meta::deletion_timestamp(&obj).is_some() {
        return;
    }
    let propagation = if waiting {
        Propagation::Foreground
    } else {
        Propagation::Background
    };
    let opts = DeleteOptions {
        propagation: Some(propagation),
        uid: Some(meta::uid(&obj).to_string()),
        ..Default::default()
    };
    let _ = core.delete(&def, &key.0, &key.1, &opts);
}

fn remove_owner_refs(o: &mut Value, uids: &[String]) {
    if let Some(refs) = o
        .pointer_mut("/metadata/ownerReferences")
        .and_then(Value::as_array_mut)
    {
        refs.retain(|r| {
            !uids
                .iter()
                .any(|u| r.get("uid").and_then(Value::as_str) == Some(u))
        });
        if refs.is_empty()
            && let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut)
        {
            m.remove("ownerReferences");
        }
    }
}

fn remove_finalizer(core: &Core, gr: &GroupResource, key: &ObjKey, finalizer: &str) {
    let Some(def) = def_for(core, gr) else { return };
    let _ = core.modify(&def, &key.0, &key.1, Subresource::Main, GC, &mut |o| {
        let mut f = meta::finalizers(o);
        let before = f.len();
        f.retain(|x| x != finalizer);
        meta::set_finalizers(o, &f);
        f.len() != before
    });
}

fn orphan(core: &Core, gr: &GroupResource, key: &ObjKey, owner: &Value) {
    let uid = meta::uid(owner).to_string();
    for (dgr, dkey) in core.store.dependents_of(&uid) {
        if let Some(def) = def_for(core, &dgr) {
            let _ = core.modify(&def, &dkey.0, &dkey.1, Subresource::Main, GC, &mut |o| {
                remove_owner_refs(o, std::slice::from_ref(&uid));
                true
            });
        }
    }
    remove_finalizer(core, gr, key, ORPHAN);
}

fn foreground(core: &Core, gr: &GroupResource, key: &ObjKey, owner: &Value) {
    for (dgr, dkey) in core.store.dependents_of(meta::uid(owner)) {
        gc_dependent(core, &dgr, &dkey);
    }
    check_foreground(core, gr, key);
}

/// Lets a foreground-deleting owner go once no dependent blocks it.
fn check_foreground(core: &Core, gr: &GroupResource, key: &ObjKey) {
    let Some(owner) = core.store.get(gr, &key.0, &key.1) else {
        return;
    };
    let uid = meta::uid(&owner).to_string();
    let blocked = core.store.dependents_of(&uid).iter().any(|(dgr, dkey)| {
        core.store.get(dgr, &dkey.0, &dkey.1).is_some_and(|d| {
            meta::owner_refs(&d)
                .iter()
                .any(|r| r.uid == uid && r.block_owner_deletion)
        })
    });
    if !blocked {
        remove_finalizer(core, gr, key, FOREGROUND);
    }
}

/// Deletes what a terminating namespace contains (on namespace events only), then lets it go.
fn sweep_namespace(core: &Core, ns: &str) {
    let nsgr = GroupResource::new("", "namespaces");
    let Some(n) = core.store.get(&nsgr, "", ns) else {
        return;
    };
    if meta::deletion_timestamp(&n).is_none() {
        return;
    }
    for (gr, key) in core.store.namespace_contents(ns) {
        let Some(obj) = core.store.get(&gr, &key.0, &key.1) else {
            continue;
        };
        if meta::deletion_timestamp(&obj).is_some() {
            continue;
        }
        if let Some(def) = def_for(core, &gr) {
            let opts = DeleteOptions {
                propagation: Some(Propagation::Background),
                ..Default::default()
            };
            let _ = core.delete(&def, &key.0, &key.1, &opts);
        }
    }
    if core.store.namespace_is_empty(ns) {
        finalize_namespace(core, ns);
    }
}

/// Removes the `kubernetes` finalizer of an empty terminating namespace.
fn finalize_namespace(core: &Core, ns: &str) {
    let nsgr = GroupResource::new("", "namespaces");
    let Some(n) = core.store.get(&nsgr, "", ns) else {
        return;
    };
    if meta::deletion_timestamp(&n).is_none() {
        return;
    }
    if let Some(def) = def_for(core, &nsgr) {
        let _ = core.modify(&def, "", ns, Subresource::Finalize, GC, &mut |o| {
            let fins: Vec<Value> = o
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter(|f| f.as_str() != Some("kubernetes"))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            o["spec"] = serde_json::json!({"finalizers": fins});
            true
        });
    }
}

fn crd_storage(crd: &Value) -> GroupResource {
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    GroupResource::new(group, plural)
}

fn crd_gr() -> GroupResource {
    GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions")
}

/// Deletes every custom resource of a terminating CRD (on CRD events only), then lets it go.
fn sweep_crd(core: &Core, crd_name: &str) {
    let Some(crd) = core.store.get(&crd_gr(), "", crd_name) else {
        return;
    };
    if meta::deletion_timestamp(&crd).is_none() {
        return;
    }
    let gr = crd_storage(&crd);
    if let Some(def) = def_for(core, &gr) {
        for key in core.store.keys(&gr, None) {
            if core
                .store
                .get(&gr, &key.0, &key.1)
                .is_some_and(|o| meta::deletion_timestamp(&o).is_none())
            {
                let opts = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..Default::default()
                };
                let _ = core.delete(&def, &key.0, &key.1, &opts);
            }
        }
    }
    release_crd(core, crd_name);
}

/// Removes the cleanup finalizer of a terminating CRD once its objects are all gone.
fn release_crd(core: &Core, crd_name: &str) {
    let Some(crd) = core.store.get(&crd_gr(), "", crd_name) else {
        return;
    };
    if meta::deletion_timestamp(&crd).is_none() || core.store.count(&crd_storage(&crd)) > 0 {
        return;
    }
    remove_finalizer(
        core,
        &crd_gr(),
        &(String::new(), crd_name.to_string()),
        CLEANUP_FINALIZER,
    );
}
