//! Controller-level test fixtures: a context whose Kubernetes client is a mock (tower-test),
//! either asserting each call in order ([`expect`]) or serving them from objects in memory and
//! recording them ([`FakeApi`]), and whose clouds are scripted fakes ([`Fakes`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cache_operator_cloud_fakes::{
    FakeAccessTokens, FakeClusters, FakeGrants, FakeIamTokens, FakeUsers,
};
use http::{Request, Response};
use kube::Resource;
use kube::client::Body;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

use super::shared::fill::Fill;
use super::skeleton::{Reconcile, reconcile};
use super::{Ctx, Error, Stores};
use crate::context::{AccessSettings, AwsClouds, Clouds, Context, GcpClouds, Timing};
use crate::events::{Recorder, Reporter};
use crate::metrics::Metrics;

pub type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// The resource a create of the fake clusters names.
pub const RESOURCE: &str = "projects/shop-prod/locations/us-central1/clusters/orders";
/// What the Memorystore for Valkey fake names a created instance.
pub const INSTANCE: &str = "projects/shop-prod/locations/us-central1/instances/orders";

/// A scripted fake for every cloud client of a test context (one cluster fake serves both
/// clouds).
#[derive(Clone)]
pub struct Fakes {
    pub clusters: Arc<FakeClusters>,
    /// Memorystore for Valkey instances.
    pub instances: Arc<FakeClusters>,
    pub users: Arc<FakeUsers>,
    pub iam_tokens: Arc<FakeIamTokens>,
    pub access_tokens: Arc<FakeAccessTokens>,
    pub grants: Arc<FakeGrants>,
}

impl Default for Fakes {
    fn default() -> Self {
        Fakes {
            clusters: Arc::new(FakeClusters::new(RESOURCE)),
            instances: Arc::new(FakeClusters::new(INSTANCE)),
            users: Arc::default(),
            iam_tokens: Arc::default(),
            access_tokens: Arc::default(),
            grants: Arc::default(),
        }
    }
}

impl Fakes {
    pub fn clouds(&self) -> Clouds {
        Clouds {
            gcp: GcpClouds {
                clusters: self.clusters.clone(),
                instances: self.instances.clone(),
                tokens: self.access_tokens.clone(),
                grants: self.grants.clone(),
            },
            aws: AwsClouds {
                clusters: self.clusters.clone(),
                users: self.users.clone(),
                tokens: self.iam_tokens.clone(),
            },
        }
    }
}

/// A context whose Kubernetes client is the mock, with `stores` as the shared caches.
pub async fn context(stores: Stores) -> (Arc<Ctx>, ApiHandle) {
    context_in(stores, &Fakes::default()).await
}

pub async fn context_in(stores: Stores, fakes: &Fakes) -> (Arc<Ctx>, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let metrics = Arc::new(Metrics::default());
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "cache-operator".into(),
            instance: Some("test".into()),
        },
    );
    let base = Context::new(
        client,
        fakes.clouds(),
        recorder,
        metrics,
        Timing::default(),
        AccessSettings::default(),
    );
    let ctx = Ctx {
        base: Arc::new(base),
        stores,
    };
    (Arc::new(ctx), handle)
}

pub async fn empty_context() -> (Arc<Ctx>, ApiHandle) {
    context(Fill::default().build()).await
}

/// One expected call: method, path, and what the body must contain; answered with `reply`.
pub async fn expect(handle: &mut ApiHandle, method: &str, path: &str, reply: Value) -> Value {
    let (request, send) = handle
        .next_request()
        .await
        .expect("the operator made another call");
    assert_eq!(request.method().as_str(), method, "{}", request.uri());
    assert_eq!(request.uri().path(), path);
    let body = body_of(request).await;
    let response = Response::builder()
        .status(200)
        .body(Body::from(serde_json::to_vec(&reply).unwrap()))
        .unwrap();
    send.send_response(response);
    body
}

async fn body_of(request: Request<Body>) -> Value {
    let bytes = request
        .into_body()
        .collect_bytes()
        .await
        .expect("a request body");
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    }
}

/// A context on `fakes` and `stores` whose API serves from memory, holding `obj`.
pub async fn serving<K>(stores: Stores, fakes: &Fakes, obj: &K) -> (Arc<Ctx>, FakeApi)
where
    K: Resource<DynamicType = ()> + serde::Serialize,
{
    let (ctx, handle) = context_in(stores, fakes).await;
    let api = FakeApi::serve(handle);
    api.put(obj);
    (ctx, api)
}

/// An event published in `shop`, as [`FakeApi::writes`] lists it.
pub const EVENT: &str = "POST /apis/events.k8s.io/v1/namespaces/shop/events";

/// A status write of `obj`, as [`FakeApi::writes`] lists it.
pub fn status_write<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!("PATCH {}/status", path_of(obj))
}

/// One pass of the skeleton over `obj`, as the controller runs it.
pub async fn pass<K: Reconcile>(ctx: &Arc<Ctx>, obj: &K) -> Result<Action, Error> {
    reconcile(Arc::new(DeserializeGuard(Ok(obj.clone()))), ctx.clone()).await
}

/// The API path of an object.
pub fn path_of<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    let meta = obj.meta();
    format!(
        "{}/{}",
        K::url_path(&(), meta.namespace.as_deref()),
        meta.name.as_deref().unwrap_or_default()
    )
}

/// A call the operator made.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// What an event said: type, reason and note.
pub type Said = (String, String, String);

#[derive(Default)]
struct Served {
    objects: BTreeMap<String, Value>,
    calls: Vec<Call>,
}

/// A Kubernetes API in memory behind the mock: objects by path (a status write lands on its
/// object, an apply replaces the object, events are accepted), every call recorded.
#[derive(Clone)]
pub struct FakeApi {
    served: Arc<Mutex<Served>>,
}

impl FakeApi {
    /// Answer every call on `handle` until the client goes.
    pub fn serve(mut handle: ApiHandle) -> FakeApi {
        let api = FakeApi {
            served: Arc::default(),
        };
        let served = api.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let method = request.method().as_str().to_owned();
                let path = request.uri().path().to_owned();
                let call = Call {
                    method,
                    path,
                    body: body_of(request).await,
                };
                let (code, reply) = served.answer(&call);
                served.lock().calls.push(call);
                let response = Response::builder()
                    .status(code)
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        });
        api
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Served> {
        self.served.lock().expect("fake API lock")
    }

    fn answer(&self, call: &Call) -> (u16, Value) {
        let mut served = self.lock();
        let objects = &mut served.objects;
        let found = |o: Option<Value>| match o {
            Some(o) => (200, o),
            None => (404, not_found(&call.path)),
        };
        match call.method.as_str() {
            "GET" => found(objects.get(&call.path).cloned()),
            "DELETE" => found(objects.remove(&call.path)),
            "POST" => (201, call.body.clone()),
            "PATCH" if call.path.ends_with("/status") => {
                let at = call.path.trim_end_matches("/status");
                let Some(obj) = objects.get_mut(at) else {
                    return (404, not_found(at));
                };
                obj["status"] = call.body["status"].clone();
                (200, obj.clone())
            }
            // The operator's patches of objects are applies of whole objects; a list of
            // operations is kube's finalizer helper.
            "PATCH" => {
                let obj = match &call.body {
                    Value::Array(_) => {
                        let mut obj = objects.get(&call.path).cloned().unwrap_or_default();
                        let ops: json_patch::Patch =
                            serde_json::from_value(call.body.clone()).expect("a JSON patch");
                        json_patch::patch(&mut obj, &ops).expect("the JSON patch applies");
                        obj
                    }
                    whole => whole.clone(),
                };
                objects.insert(call.path.clone(), obj.clone());
                (200, obj)
            }
            other => panic!("the operator made a {other} call"),
        }
    }

    /// Put an object where the operator will find it.
    pub fn put<K: Resource<DynamicType = ()> + serde::Serialize>(&self, obj: &K) {
        let mut value = serde_json::to_value(obj).expect("an object serializes");
        value["apiVersion"] = K::api_version(&()).into();
        value["kind"] = K::kind(&()).into();
        self.lock().objects.insert(path_of(obj), value);
    }

    /// An object as the API holds it now.
    pub fn get<K: Resource<DynamicType = ()> + serde::de::DeserializeOwned>(
        &self,
        like: &K,
    ) -> Option<K> {
        let value = self.lock().objects.get(&path_of(like)).cloned()?;
        Some(serde_json::from_value(value).expect("a stored object parses"))
    }

    /// Every call so far, and forget them.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut self.lock().calls)
    }

    /// The calls so far that change something, as `METHOD path`.
    pub fn writes(&self) -> Vec<String> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method != "GET")
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }

    /// The last status written, and what its conditions say (see [`kstatus`]).
    pub fn status(&self) -> (Value, String) {
        let status = self.statuses().pop().expect("a status was written");
        let says = kstatus(&status);
        (status, says)
    }

    /// The statuses written so far.
    pub fn statuses(&self) -> Vec<Value> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == "PATCH" && c.path.ends_with("/status"))
            .map(|c| c.body["status"].clone())
            .collect()
    }

    /// The events published so far.
    pub fn events(&self) -> Vec<Said> {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        self.lock()
            .calls
            .iter()
            .filter(|c| c.path.starts_with("/apis/events.k8s.io/"))
            .map(|c| {
                (
                    text(&c.body["type"]),
                    text(&c.body["reason"]),
                    text(&c.body["note"]),
                )
            })
            .collect()
    }
}

fn not_found(path: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
           "code": 404, "message": format!("{path} not found")})
}

/// What a written status's conditions say, in one line: which of Ready, Reconciling and
/// Stalled are True, then Ready's reason and observed generation (`Reconciling: Creating @1`).
pub fn kstatus(status: &Value) -> String {
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let get = |type_: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == type_)
            .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
            .clone()
    };
    let held: Vec<&str> = ["Ready", "Reconciling", "Stalled"]
        .into_iter()
        .filter(|t| get(t)["status"] == "True")
        .collect();
    let ready = get("Ready");
    format!(
        "{}: {} @{}",
        held.join("+"),
        ready["reason"].as_str().unwrap_or_default(),
        ready["observedGeneration"],
    )
}

/// An event as [`FakeApi::events`] reports it.
pub fn said(type_: &str, reason: &str, note: &str) -> Said {
    (type_.into(), reason.into(), note.into())
}
