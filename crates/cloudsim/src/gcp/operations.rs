//! google.longrunning.Operation as both Memorystore APIs return it, the `operations` collection
//! (get/list/delete/cancel), and the requestId replay table.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Query;
use super::error::{Code, RpcError};
use super::listing::list_page;
use super::resource::{LocationName, Managed, Resource, Service};
use crate::sim::Shared;
use crate::util::{random_hex, rfc3339_micros};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Create,
    Update,
    Delete,
    Backup,
    Export,
    RescheduleMaintenance,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Delete => "delete",
            Verb::Backup => "backup",
            Verb::Export => "export",
            Verb::RescheduleMaintenance => "rescheduleMaintenance",
        }
    }
}

/// A message an operation responds with, as it was when the operation ended.
pub trait Response: fmt::Debug + Send + Sync {
    /// The message name (`Cluster`, `Instance`, `Backup`) in its API's package.
    fn message(&self) -> &'static str;
    fn render(&self, ints: bool) -> Value;
}

/// A resource as an operation's response.
#[derive(Debug)]
pub struct Snapshot<T: Managed>(pub Resource<T>);

impl<T: Managed> Response for Snapshot<T> {
    fn message(&self) -> &'static str {
        T::KIND
    }

    fn render(&self, ints: bool) -> Value {
        self.0.render(ints)
    }
}

#[derive(Debug, Clone)]
pub enum OpResult {
    Response(Arc<dyn Response>),
    Empty,
    /// The operation failed: a google.rpc.Status (code number, message).
    Error(i32, String),
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub service: Service,
    pub name: String,
    pub create_time: Timestamp,
    pub end_time: Option<Timestamp>,
    pub target: String,
    pub verb: Verb,
    pub result: Option<OpResult>,
}

impl Operation {
    pub fn new(service: Service, location: &LocationName, target: String, verb: Verb) -> Self {
        let now = Timestamp::now();
        Self {
            service,
            name: format!(
                "{location}/operations/operation-{}-{}",
                now.as_millisecond(),
                random_hex(32)
            ),
            create_time: now,
            end_time: None,
            target,
            verb,
            result: None,
        }
    }

    pub fn finish(&mut self, result: OpResult) {
        self.end_time = Some(Timestamp::now());
        self.result = Some(result);
    }

    pub fn done(&self) -> bool {
        self.result.is_some()
    }

    pub fn render(&self, ints: bool) -> Value {
        let mut metadata = json!({
            "@type": self.service.type_url("OperationMetadata"),
            "apiVersion": "v1",
            "createTime": rfc3339_micros(self.create_time),
            "target": self.target,
            "verb": self.verb.as_str(),
        });
        if let Some(end) = self.end_time {
            metadata["endTime"] = rfc3339_micros(end).into();
        }
        let mut v = json!({"name": self.name, "metadata": metadata});
        match &self.result {
            None => {}
            Some(OpResult::Response(r)) => {
                let mut response = r.render(ints);
                response["@type"] = self.service.type_url(r.message()).into();
                v["done"] = true.into();
                v["response"] = response;
            }
            Some(OpResult::Empty) => {
                v["done"] = true.into();
                v["response"] = json!({"@type": "type.googleapis.com/google.protobuf.Empty"});
            }
            Some(OpResult::Error(code, message)) => {
                v["done"] = true.into();
                v["error"] = json!({"code": code, "message": message});
            }
        }
        v
    }
}

pub fn get(shared: &Shared, name: &str, q: &Query) -> Result<Value, RpcError> {
    let gcp = shared.gcp.lock().expect("gcp lock");
    gcp.operations
        .get(name)
        .map(|op| op.render(q.ints()))
        .ok_or_else(|| RpcError::not_found(name))
}

/// Both APIs' operations of the location (they share the path on the simulator's one port).
pub fn list(shared: &Shared, parent: &LocationName, q: &Query) -> Result<Value, RpcError> {
    let prefix = parent.prefix("operations");
    let gcp = shared.gcp.lock().expect("gcp lock");
    let ints = q.ints();
    list_page(
        &gcp.operations,
        &prefix,
        q,
        |_| true,
        "operations",
        |op| op.render(ints),
    )
}

pub fn delete(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let op = gcp
        .operations
        .remove(name)
        .ok_or_else(|| RpcError::not_found(name))?;
    // Gone for clients; a repeated requestId still answers with it.
    if gcp.replays.refers_to(name) {
        gcp.retired.insert(name.to_owned(), op);
    }
    Ok(json!({}))
}

/// Memorystore operations cannot be cancelled: UNIMPLEMENTED while one runs, FAILED_PRECONDITION
/// once it is done.
pub fn cancel(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    let gcp = shared.gcp.lock().expect("gcp lock");
    let op = gcp
        .operations
        .get(name)
        .ok_or_else(|| RpcError::not_found(name))?;
    if op.done() {
        return Err(RpcError::failed_precondition(format!(
            "Operation {name} has already completed"
        )));
    }
    let what = match op.service {
        Service::RedisCluster => "Memorystore cluster",
        Service::Memorystore => "Memorystore instance",
    };
    Err(RpcError::new(
        Code::Unimplemented,
        format!("Cancelling {what} operations is not supported"),
    ))
}

/// `requestId` replay: the same id for the same method and resource returns the original operation,
/// whatever happened since (the operation failed, the cluster was deleted), for the retention period
/// counted on the simulator's clock from the first request.
#[derive(Debug, Default)]
pub struct Replays {
    entries: HashMap<(Verb, String, String), (String, Timestamp)>,
    order: VecDeque<(Timestamp, (Verb, String, String))>,
}

impl Replays {
    /// The operation first created for this (verb, resource, requestId), if it is still remembered.
    pub fn lookup(
        &mut self,
        verb: Verb,
        target: &str,
        request_id: &str,
        retention: Duration,
        now: Timestamp,
    ) -> Option<String> {
        self.prune(retention, now);
        self.entries
            .get(&(verb, target.to_owned(), request_id.to_owned()))
            .map(|(op, _)| op.clone())
    }

    pub fn remember(
        &mut self,
        verb: Verb,
        target: &str,
        request_id: &str,
        op: &str,
        now: Timestamp,
    ) {
        let key = (verb, target.to_owned(), request_id.to_owned());
        self.entries.insert(key.clone(), (op.to_owned(), now));
        self.order.push_back((now, key));
    }

    /// Whether a remembered request still needs this operation.
    pub fn refers_to(&self, op: &str) -> bool {
        self.entries.values().any(|(o, _)| o == op)
    }

    fn prune(&mut self, retention: Duration, now: Timestamp) {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at).unsigned_abs() <= retention {
                break;
            }
            let (at, key) = self.order.pop_front().expect("front exists");
            if self.entries.get(&key).is_some_and(|(_, t)| *t == at) {
                self.entries.remove(&key);
            }
        }
    }
}

/// Checks a requestId: a UUID other than the zero UUID, as Google APIs document.
pub fn parse_request_id(id: Option<&str>) -> Result<Option<String>, RpcError> {
    match id {
        None | Some("") => Ok(None),
        Some(s) => match uuid::Uuid::parse_str(s) {
            Ok(u) if !u.is_nil() => Ok(Some(u.hyphenated().to_string())),
            _ => Err(RpcError::bad_field(
                "request_id",
                format!(
                    "Invalid request_id {s:?}: it must be a valid UUID other than 00000000-0000-0000-0000-000000000000"
                ),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_must_be_uuids() {
        assert_eq!(parse_request_id(None).unwrap(), None);
        let id = "3F2504E0-4F89-41D3-9A0C-0305E82C3301";
        assert_eq!(
            parse_request_id(Some(id)).unwrap().unwrap(),
            id.to_lowercase()
        );
        assert!(parse_request_id(Some("create-1")).is_err());
        assert!(parse_request_id(Some("00000000-0000-0000-0000-000000000000")).is_err());
    }

    #[test]
    fn replays_are_remembered_within_retention() {
        let mut r = Replays::default();
        let t0 = Timestamp::UNIX_EPOCH;
        let hour = Duration::from_secs(3600);
        r.remember(Verb::Create, "c", "id", "op1", t0);
        assert_eq!(
            r.lookup(Verb::Create, "c", "id", hour, t0 + hour)
                .as_deref(),
            Some("op1")
        );
        assert!(r.refers_to("op1"));
        assert_eq!(r.lookup(Verb::Delete, "c", "id", hour, t0), None);
        assert_eq!(
            r.lookup(
                Verb::Create,
                "c",
                "id",
                hour,
                t0 + hour + Duration::from_secs(1)
            ),
            None
        );
        assert!(!r.refers_to("op1"));
    }

    #[test]
    fn operations_render_like_the_real_api() {
        let loc = LocationName::new("p", "us-central1").unwrap();
        let mut op = Operation::new(
            Service::RedisCluster,
            &loc,
            "projects/p/locations/us-central1/clusters/c".into(),
            Verb::Delete,
        );
        let v = op.render(false);
        assert!(
            v["name"]
                .as_str()
                .unwrap()
                .starts_with("projects/p/locations/us-central1/operations/operation-")
        );
        assert!(v.get("done").is_none());
        assert_eq!(v["metadata"]["verb"], "delete");
        op.finish(OpResult::Empty);
        let v = op.render(false);
        assert_eq!(v["done"], true);
        assert_eq!(
            v["response"]["@type"],
            "type.googleapis.com/google.protobuf.Empty"
        );
        assert!(v["metadata"]["endTime"].is_string());
    }
}
