//! The object store: one global resourceVersion counter (as etcd's revision), objects by
//! storage location and key, a bounded watch history with the previous state of every
//! change (for selector transitions and consistent continue pages), and an index of
//! dependents by owner uid for the garbage collector.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, watch};

use crate::meta;
use crate::registry::GroupResource;

/// `(namespace, name)`; the namespace is empty for cluster-scoped objects.
pub type ObjKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct StoredEvent {
    pub rv: u64,
    pub kind: EventKind,
    pub storage: GroupResource,
    pub key: ObjKey,
    pub object: Arc<Value>,
    pub prev: Option<Arc<Value>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    AlreadyExists,
    Conflict,
}

/// A page of a list.
pub struct Page {
    pub items: Vec<Arc<Value>>,
    /// The resourceVersion the list is consistent at.
    pub rv: u64,
    /// Set when more matching items follow.
    pub next: Option<ObjKey>,
}

struct Inner {
    rv: u64,
    objects: HashMap<GroupResource, BTreeMap<ObjKey, Arc<Value>>>,
    history: VecDeque<Arc<StoredEvent>>,
    capacity: usize,
    /// Every event with `rv <= floor` is gone from the history.
    floor: u64,
    dependents: HashMap<String, BTreeSet<(GroupResource, ObjKey)>>,
    uids: HashMap<String, (GroupResource, ObjKey)>,
}

pub struct Store {
    inner: Mutex<Inner>,
    notify: watch::Sender<u64>,
    changes: mpsc::UnboundedSender<Arc<StoredEvent>>,
}

impl Store {
    /// A store keeping `capacity` events of history; the receiver gets every change (for controllers).
    pub fn new(capacity: usize) -> (Store, mpsc::UnboundedReceiver<Arc<StoredEvent>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (notify, _) = watch::channel(0);
        let store = Store {
            inner: Mutex::new(Inner {
                rv: 0,
                objects: HashMap::new(),
                history: VecDeque::new(),
                capacity: capacity.max(1),
                floor: 0,
                dependents: HashMap::new(),
                uids: HashMap::new(),
            }),
            notify,
            changes: tx,
        };
        (store, rx)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    pub fn get(&self, gr: &GroupResource, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(gr)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    pub fn get_by_uid(&self, uid: &str) -> Option<(GroupResource, Arc<Value>)> {
        let inner = self.lock();
        let (gr, key) = inner.uids.get(uid)?;
        let obj = inner.objects.get(gr)?.get(key)?.clone();
        Some((gr.clone(), obj))
    }

    pub fn dependents_of(&self, uid: &str) -> Vec<(GroupResource, ObjKey)> {
        self.lock()
            .dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Keys of every object stored under `gr` (optionally in one namespace).
    pub fn keys(&self, gr: &GroupResource, ns: Option<&str>) -> Vec<ObjKey> {
        let inner = self.lock();
        let Some(m) = inner.objects.get(gr) else {
            return Vec::new();
        };
        match ns {
            Some(ns) => range_ns(m, ns, None).map(|(k, _)| k.clone()).collect(),
            None => m.keys().cloned().collect(),
        }
    }

    /// Whether namespace `ns` holds no objects (cheap: one range probe per resource).
    pub fn namespace_is_empty(&self, ns: &str) -> bool {
        let inner = self.lock();
        inner
            .objects
            .values()
            .all(|m| range_ns(m, ns, None).next().is_none())
    }

    /// How many objects are stored under `gr`.
    pub fn count(&self, gr: &GroupResource) -> usize {
        self.lock().objects.get(gr).map_or(0, BTreeMap::len)
    }

    /// Storage locations that hold objects in namespace `ns`.
    pub fn namespace_contents(&self, ns: &str) -> Vec<(GroupResource, ObjKey)> {
        let inner = self.lock();
        let mut out = Vec::new();
        for (gr, m) in &inner.objects {
            out.extend(range_ns(m, ns, None).map(|(k, _)| (gr.clone(), k.clone())));
        }
        out
    }

    /// A list page. `at` reads a past resourceVersion (for continue tokens) using the history.
    pub fn list(
        &self,
        gr: &GroupResource,
        ns: Option<&str>,
        at: Option<u64>,
        after: Option<&ObjKey>,
        limit: Option<usize>,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Result<Page, u64> {
        let inner = self.lock();
        let empty = BTreeMap::new();
        let m = inner.objects.get(gr).unwrap_or(&empty);
        let rv = at.unwrap_or(inner.rv);
        // Past states of keys changed after `rv`: the earliest change's previous object wins.
        let mut overrides: BTreeMap<ObjKey, Option<Arc<Value>>> = BTreeMap::new();
        if let Some(at) = at
            && at < inner.rv
        {
            if at < inner.floor {
                return Err(inner.floor);
            }
            let start = inner.history.partition_point(|e| e.rv <= at);
            for e in inner.history.range(start..) {
                if &e.storage == gr && ns.is_none_or(|n| n == e.key.0) {
                    overrides
                        .entry(e.key.clone())
                        .or_insert_with(|| e.prev.clone());
                }
            }
        }
        let current: Box<dyn Iterator<Item = (&ObjKey, &Arc<Value>)>> = match ns {
            Some(ns) => Box::new(range_ns(m, ns, after)),
            None => match after {
                Some(a) => Box::new(m.range((Bound::Excluded(a.clone()), Bound::Unbounded))),
                None => Box::new(m.iter()),
            },
        };
        let mut extra: Vec<(ObjKey, Arc<Value>)> = overrides
            .iter()
            .filter(|(k, v)| v.is_some() && !m.contains_key(*k) && after.is_none_or(|a| *k > a))
            .map(|(k, v)| (k.clone(), v.clone().unwrap()))
            .collect();
        extra.reverse();
        let mut items = Vec::new();
        let mut next = None;
        let mut last_key: Option<ObjKey> = None;
        let mut cur = current.peekable();
        loop {
            // Merge the current keys with keys that existed at `rv` but are gone now.
            let take_extra = match (cur.peek(), extra.last()) {
                (Some((ck, _)), Some((ek, _))) => ek < *ck,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            let (key, obj) = if take_extra {
                let (k, v) = extra.pop().unwrap();
                (k, Some(v))
            } else if let Some((k, v)) = cur.next() {
                let v = match overrides.get(k) {
                    Some(past) => past.clone(),
                    None => Some(v.clone()),
                };
                (k.clone(), v)
            } else {
                break;
            };
            let Some(obj) = obj else { continue };
            if !filter(&obj) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                next = last_key;
                break;
            }
            last_key = Some(key);
            items.push(obj);
        }
        Ok(Page { items, rv, next })
    }

    /// Current objects matching `filter` and the resourceVersion they are consistent at.
    pub fn snapshot(
        &self,
        gr: &GroupResource,
        ns: Option<&str>,
        filter: &dyn Fn(&Value) -> bool,
    ) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let rv = inner.rv;
        let Some(m) = inner.objects.get(gr) else {
            return (Vec::new(), rv);
        };
        let items = match ns {
            Some(ns) => range_ns(m, ns, None)
                .filter(|(_, v)| filter(v))
                .map(|(_, v)| v.clone())
                .collect(),
            None => m.values().filter(|v| filter(v)).cloned().collect(),
        };
        (items, rv)
    }

    /// Events after `rv`, or `Err(floor)` when some of them are no longer kept.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<StoredEvent>>, u64> {
        let inner = self.lock();
        if rv < inner.floor {
            return Err(inner.floor);
        }
        let start = inner.history.partition_point(|e| e.rv <= rv);
        Ok(inner.history.range(start..).cloned().collect())
    }

    /// Forgets the watch history: watches and continue tokens from before now get 410 Gone.
    pub fn compact(&self) -> u64 {
        let mut inner = self.lock();
        inner.history.clear();
        inner.floor = inner.rv;
        inner.rv
    }

    pub fn create(&self, gr: &GroupResource, mut obj: Value) -> Result<Arc<Value>, StoreError> {
        let key = (
            meta::namespace(&obj).to_string(),
            meta::name(&obj).to_string(),
        );
        let mut inner = self.lock();
        if inner.objects.get(gr).is_some_and(|m| m.contains_key(&key)) {
            return Err(StoreError::AlreadyExists);
        }
        let rv = inner.rv + 1;
        inner.rv = rv;
        meta::meta_mut(&mut obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
        let obj = Arc::new(obj);
        index_add(&mut inner, gr, &key, &obj);
        inner
            .objects
            .entry(gr.clone())
            .or_default()
            .insert(key.clone(), obj.clone());
        self.record(&mut inner, EventKind::Added, gr, key, obj.clone(), None);
        Ok(obj)
    }

    pub fn update(
        &self,
        gr: &GroupResource,
        ns: &str,
        name: &str,
        expected_rv: Option<&str>,
        mut obj: Value,
    ) -> Result<Arc<Value>, StoreError> {
        let key = (ns.to_string(), name.to_string());
        let mut inner = self.lock();
        let prev = inner
            .objects
            .get(gr)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if let Some(e) = expected_rv
            && e != meta::resource_version(&prev)
        {
            return Err(StoreError::Conflict);
        }
        let rv = inner.rv + 1;
        inner.rv = rv;
        meta::meta_mut(&mut obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
        let obj = Arc::new(obj);
        index_remove(&mut inner, gr, &key, &prev);
        index_add(&mut inner, gr, &key, &obj);
        inner
            .objects
            .entry(gr.clone())
            .or_default()
            .insert(key.clone(), obj.clone());
        self.record(
            &mut inner,
            EventKind::Modified,
            gr,
            key,
            obj.clone(),
            Some(prev),
        );
        Ok(obj)
    }

    /// Removes an object. `last` is its final state (e.g. with the last finalizer removed);
    /// the stored state is used when `None`.
    pub fn delete(
        &self,
        gr: &GroupResource,
        ns: &str,
        name: &str,
        expected_rv: Option<&str>,
        last: Option<Value>,
    ) -> Result<Arc<Value>, StoreError> {
        let key = (ns.to_string(), name.to_string());
        let mut inner = self.lock();
        let prev = inner
            .objects
            .get(gr)
            .and_then(|m| m.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        if let Some(e) = expected_rv
            && e != meta::resource_version(&prev)
        {
            return Err(StoreError::Conflict);
        }
        let rv = inner.rv + 1;
        inner.rv = rv;
        let mut fin = last.unwrap_or_else(|| (*prev).clone());
        meta::meta_mut(&mut fin).insert("resourceVersion".into(), Value::String(rv.to_string()));
        let fin = Arc::new(fin);
        index_remove(&mut inner, gr, &key, &prev);
        if let Some(m) = inner.objects.get_mut(gr) {
            m.remove(&key);
        }
        self.record(
            &mut inner,
            EventKind::Deleted,
            gr,
            key,
            fin.clone(),
            Some(prev),
        );
        Ok(fin)
    }

    fn record(
        &self,
        inner: &mut Inner,
        kind: EventKind,
        gr: &GroupResource,
        key: ObjKey,
        obj: Arc<Value>,
        prev: Option<Arc<Value>>,
    ) {
        let ev = Arc::new(StoredEvent {
            rv: inner.rv,
            kind,
            storage: gr.clone(),
            key,
            object: obj,
            prev,
        });
        inner.history.push_back(ev.clone());
        while inner.history.len() > inner.capacity {
            if let Some(old) = inner.history.pop_front() {
                inner.floor = old.rv;
            }
        }
        let _ = self.changes.send(ev);
        self.notify.send_replace(inner.rv);
    }
}

fn range_ns<'a>(
    m: &'a BTreeMap<ObjKey, Arc<Value>>,
    ns: &'a str,
    after: Option<&ObjKey>,
) -> impl Iterator<Item = (&'a ObjKey, &'a Arc<Value>)> + 'a {
    let start = match after {
        Some(a) if a.0 == ns => Bound::Excluded(a.clone()),
        _ => Bound::Included((ns.to_string(), String::new())),
    };
    m.range((start, Bound::Unbounded))
        .take_while(move |(k, _)| k.0 == ns)
}

fn index_add(inner: &mut Inner, gr: &GroupResource, key: &ObjKey, obj: &Value) {
    let uid = meta::uid(obj);
    if !uid.is_empty() {
        inner
            .uids
            .insert(uid.to_string(), (gr.clone(), key.clone()));
    }
    for r in meta::owner_refs(obj) {
        inner
            .dependents
            .entry(r.uid)
            .or_default()
            .insert((gr.clone(), key.clone()));
    }
}

fn index_remove(inner: &mut Inner, gr: &GroupResource, key: &ObjKey, obj: &Value) {
    inner.uids.remove(meta::uid(obj));
    for r in meta::owner_refs(obj) {
        if let Some(s) = inner.dependents.get_mut(&r.uid) {
            s.remove(&(gr.clone(), key.clone()));
            if s.is_empty() {
                inner.dependents.remove(&r.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(ns: &str, name: &str, v: i64) -> Value {
        json!({"metadata": {"namespace": ns, "name": name, "uid": format!("{ns}-{name}")}, "v": v})
    }

    #[test]
    fn continue_pages_are_consistent_with_the_first_page() {
        let (s, _rx) = Store::new(100);
        let gr = GroupResource::new("", "configmaps");
        for n in ["a", "b", "c", "d"] {
            s.create(&gr, obj("ns", n, 1)).unwrap();
        }
        let all = |_: &Value| true;
        let p1 = s.list(&gr, Some("ns"), None, None, Some(2), &all).unwrap();
        assert_eq!(p1.items.len(), 2);
        let next = p1.next.clone().unwrap();
        // Changes after the first page: c modified, d deleted, e created.
        s.update(&gr, "ns", "c", None, obj("ns", "c", 2)).unwrap();
        s.delete(&gr, "ns", "d", None, None).unwrap();
        s.create(&gr, obj("ns", "e", 1)).unwrap();
        let p2 = s
            .list(&gr, Some("ns"), Some(p1.rv), Some(&next), Some(10), &all)
            .unwrap();
        let names: Vec<&str> = p2.items.iter().map(|o| meta::name(o)).collect();
        assert_eq!(names, vec!["c", "d"]);
        assert_eq!(p2.items[0]["v"], 1);
        assert!(p2.next.is_none());
        s.compact();
        assert!(
            s.list(&gr, Some("ns"), Some(p1.rv), Some(&next), Some(10), &all)
                .is_err()
        );
    }

    #[test]
    fn history_is_bounded_and_reports_its_floor() {
        let (s, _rx) = Store::new(2);
        let gr = GroupResource::new("", "configmaps");
        for n in ["a", "b", "c"] {
            s.create(&gr, obj("ns", n, 1)).unwrap();
        }
        assert_eq!(s.events_since(0).unwrap_err(), 1);
        assert_eq!(s.events_since(1).unwrap().len(), 2);
        assert_eq!(
            s.update(&gr, "ns", "a", Some("999"), obj("ns", "a", 2))
                .unwrap_err(),
            StoreError::Conflict
        );
    }

    #[test]
    fn owner_index_tracks_dependents() {
        let (s, _rx) = Store::new(10);
        let gr = GroupResource::new("", "configmaps");
        let mut dep = obj("ns", "dep", 1);
        dep["metadata"]["ownerReferences"] =
            json!([{"uid": "owner-1", "apiVersion": "v1", "kind": "ConfigMap", "name": "o"}]);
        s.create(&gr, dep).unwrap();
        assert_eq!(s.dependents_of("owner-1").len(), 1);
        s.delete(&gr, "ns", "dep", None, None).unwrap();
        assert!(s.dependents_of("owner-1").is_empty());
    }
}
