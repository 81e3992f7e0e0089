//! The Google Cloud side: Memorystore for Redis Cluster v1 (`clusters`), Memorystore for Valkey v1
//! (`instances`), IAM Credentials, Cloud Resource Manager and the OAuth2 token endpoint, all on the
//! simulator's one port. Each product keeps what is its own in its module (`clusters`, `instances`)
//! over the common core: resources and their lifecycle (`resource`, `managed`), operations and
//! `requestId` replays, backups, day-2 settings, listing, and the store (`state`).

pub mod accounts;
pub mod backups;
pub mod clusters;
pub mod error;
pub mod iam;
pub mod identity;
pub mod instances;
pub mod lifecycle;
pub mod listing;
pub mod locations;
pub mod managed;
pub mod mask;
pub mod operations;
pub mod protojson;
pub mod replication;
pub mod resource;
pub mod settings;
pub mod state;
pub mod tokens;

use std::sync::Arc;

use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::counters::{Api, OK};
use crate::faults::Injected;
use crate::sim::Shared;
use clusters::Clusters;
use error::{Code, RpcError};
use instances::Instances;
use resource::{LocationName, Service};

/// Query parameters of a Google API call.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        Self(
            q.and_then(|q| serde_urlencoded::from_str(q).ok())
                .unwrap_or_default(),
        )
    }

    /// A request field by its lowerCamel name; transcoding also binds the proto (snake_case) name.
    pub fn get(&self, key: &str) -> Option<&str> {
        let snake = protojson::snake_case(key);
        self.0
            .iter()
            .find(|(k, _)| k == key || *k == snake)
            .map(|(_, v)| v.as_str())
    }

    /// `$alt=json;enum-encoding=int` (Go GAPIC clients) asks for enums as numbers.
    pub fn ints(&self) -> bool {
        ["$alt", "alt"]
            .iter()
            .any(|k| self.get(k).is_some_and(|v| v.contains("enum-encoding=int")))
    }

    /// Refuses a parameter that is neither a system parameter nor one of the request message's
    /// fields that HTTP transcoding binds from the query (`fields`, lowerCamel or snake_case), as
    /// Google's front end does: a misspelt `requestId` must not pass unseen.
    pub fn check_known(&self, fields: &[&str]) -> Result<(), RpcError> {
        let known = |k: &str| {
            SYSTEM_PARAMETERS.contains(&k)
                || fields
                    .iter()
                    .any(|f| *f == k || protojson::snake_case(f) == k)
        };
        match self.0.iter().find(|(k, _)| !known(k)) {
            None => Ok(()),
            Some((k, _)) => Err(RpcError::unbound_query_parameter(k)),
        }
    }
}

/// Query parameters every Google REST API accepts (the system parameters page, and the
/// `StandardQueryParameters` of the generated apitools clients gcloud uses).
const SYSTEM_PARAMETERS: &[&str] = &[
    "$.xgafv",
    "$alt",
    "alt",
    "$callback",
    "callback",
    "$ct",
    "$fields",
    "fields",
    "$key",
    "key",
    "access_token",
    "oauth_token",
    "$prettyPrint",
    "prettyPrint",
    "$quotaUser",
    "quotaUser",
    "$userProject",
    "userProject",
    "$outputDefaults",
    "$unique",
    "trace",
    "uploadType",
    "upload_protocol",
];

/// Which product's collection a route addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collection {
    /// Memorystore for Redis Cluster `clusters`.
    Clusters,
    /// Memorystore for Valkey `instances`.
    Instances,
}

impl Collection {
    fn of(collection: &str) -> Option<Self> {
        match collection {
            "clusters" => Some(Collection::Clusters),
            "instances" => Some(Collection::Instances),
            _ => None,
        }
    }

    fn service(self) -> Service {
        match self {
            Collection::Clusters => Service::RedisCluster,
            Collection::Instances => Service::Memorystore,
        }
    }

    /// `clusters.create`, `instances.patch`: API operation names for counters and faults.
    fn op(self, method: &str) -> &'static str {
        macro_rules! ops {
            ($($m:literal),+) => {
                match (self, method) {
                    $((Collection::Clusters, $m) => concat!("clusters.", $m),
                      (Collection::Instances, $m) => concat!("instances.", $m),)+
                    _ => "unknown",
                }
            };
        }
        ops!(
            "list",
            "create",
            "get",
            "patch",
            "delete",
            "getCertificateAuthority",
            "backup",
            "rescheduleMaintenance"
        )
    }
}

#[derive(Debug)]
enum Route {
    ListLocations { project: String },
    GetLocation { project: String, location: String },
    List(Collection, LocationName),
    Create(Collection, LocationName),
    Get(Collection, String),
    Patch(Collection, String),
    Delete(Collection, String),
    GetCertificateAuthority(Collection, String),
    Backup(Collection, String),
    RescheduleMaintenance(Collection, String),
    GetSharedRegionalCertificateAuthority(LocationName),
    ListBackupCollections(LocationName),
    GetBackupCollection(String),
    ListBackups(String),
    GetBackup(String),
    DeleteBackup(String),
    ExportBackup(String),
    Unimplemented(&'static str),
    ListOperations(LocationName),
    GetOperation(String),
    DeleteOperation(String),
    CancelOperation(String),
    GetIamPolicy(String),
    SetIamPolicy(String),
    GenerateAccessToken(String),
    Token,
}

impl Route {
    /// The request message fields transcoding binds from the query string: those not in the
    /// path and not covered by the body (`body: "cluster"` / `body: "*"`).
    fn query_fields(&self) -> &'static [&'static str] {
        use Route::*;
        match self {
            ListLocations { .. } => &["filter", "pageSize", "pageToken", "extraLocationTypes"],
            List(Collection::Clusters, _) => &["pageSize", "pageToken"],
            List(Collection::Instances, _) => &["pageSize", "pageToken", "filter", "orderBy"],
            Create(Collection::Clusters, _) => &["clusterId", "requestId"],
            Create(Collection::Instances, _) => &["instanceId", "requestId"],
            Patch(..) => &["updateMask", "requestId"],
            Delete(..) => &["requestId"],
            ListOperations(_) => &["filter", "pageSize", "pageToken", "returnPartialSuccess"],
            ListBackupCollections(_) | ListBackups(_) => &["pageSize", "pageToken"],
            DeleteBackup(_) => &["requestId"],
            GetLocation { .. }
            | Get(..)
            | GetCertificateAuthority(..)
            | Backup(..)
            | RescheduleMaintenance(..)
            | GetSharedRegionalCertificateAuthority(_)
            | GetBackupCollection(_)
            | GetBackup(_)
            | ExportBackup(_)
            | Unimplemented(_)
            | GetOperation(_)
            | DeleteOperation(_)
            | CancelOperation(_)
            | GetIamPolicy(_)
            | SetIamPolicy(_)
            | GenerateAccessToken(_)
            | Token => &[],
        }
    }

    fn api_and_operation(&self) -> (Api, &'static str) {
        use Route::*;
        match self {
            ListLocations { .. } => (Api::Memorystore, "locations.list"),
            GetLocation { .. } => (Api::Memorystore, "locations.get"),
            List(p, _) => (Api::Memorystore, p.op("list")),
            Create(p, _) => (Api::Memorystore, p.op("create")),
            Get(p, _) => (Api::Memorystore, p.op("get")),
            Patch(p, _) => (Api::Memorystore, p.op("patch")),
            Delete(p, _) => (Api::Memorystore, p.op("delete")),
            GetCertificateAuthority(p, _) => (Api::Memorystore, p.op("getCertificateAuthority")),
            Backup(p, _) => (Api::Memorystore, p.op("backup")),
            RescheduleMaintenance(p, _) => (Api::Memorystore, p.op("rescheduleMaintenance")),
            GetSharedRegionalCertificateAuthority(_) => (
                Api::Memorystore,
                "locations.getSharedRegionalCertificateAuthority",
            ),
            ListBackupCollections(_) => (Api::Memorystore, "backupCollections.list"),
            GetBackupCollection(_) => (Api::Memorystore, "backupCollections.get"),
            ListBackups(_) => (Api::Memorystore, "backups.list"),
            GetBackup(_) => (Api::Memorystore, "backups.get"),
            DeleteBackup(_) => (Api::Memorystore, "backups.delete"),
            ExportBackup(_) => (Api::Memorystore, "backups.export"),
            Unimplemented(op) => (Api::Memorystore, op),
            ListOperations(_) => (Api::Memorystore, "operations.list"),
            GetOperation(_) => (Api::Memorystore, "operations.get"),
            DeleteOperation(_) => (Api::Memorystore, "operations.delete"),
            CancelOperation(_) => (Api::Memorystore, "operations.cancel"),
            GetIamPolicy(_) => (Api::Cloudresourcemanager, "projects.getIamPolicy"),
            SetIamPolicy(_) => (Api::Cloudresourcemanager, "projects.setIamPolicy"),
            GenerateAccessToken(_) => (Api::Iamcredentials, "serviceAccounts.generateAccessToken"),
            Token => (Api::Oauth2, "token"),
        }
    }

    /// The host of the API the route belongs to (for the wording of injected faults).
    fn host(&self) -> &'static str {
        use Route::*;
        match self {
            List(p, _)
            | Create(p, _)
            | Get(p, _)
            | Patch(p, _)
            | Delete(p, _)
            | GetCertificateAuthority(p, _)
            | Backup(p, _)
            | RescheduleMaintenance(p, _) => p.service().host(),
            GetSharedRegionalCertificateAuthority(_) => Service::Memorystore.host(),
            _ => match self.api_and_operation().0 {
                Api::Memorystore => Service::RedisCluster.host(),
                Api::Iamcredentials => "iamcredentials.googleapis.com",
                Api::Cloudresourcemanager => "cloudresourcemanager.googleapis.com",
                Api::Oauth2 => "oauth2.googleapis.com",
                Api::Elasticache => "elasticache.amazonaws.com",
                Api::Sts => "sts.amazonaws.com",
            },
        }
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(hi * 16 + lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `name:verb` in the last segment (Google custom methods).
fn split_verb(seg: &str) -> (&str, Option<&str>) {
    match seg.rsplit_once(':') {
        Some((name, verb)) => (name, Some(verb)),
        None => (seg, None),
    }
}

fn resolve(method: &Method, path: &str) -> Option<Route> {
    if path == "/token" {
        return (*method == Method::POST).then_some(Route::Token);
    }
    let rest = path
        .strip_prefix("/v1/")
        .or_else(|| path.strip_prefix("/v3/"))?;
    let segs: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.clone();
    let loc = |p: &str, l: &str| LocationName::new(p, l).ok();
    Some(match s.as_slice() {
        ["projects", project_verb] if m == Method::POST => match split_verb(project_verb) {
            (p, Some("getIamPolicy")) => Route::GetIamPolicy(p.to_owned()),
            (p, Some("setIamPolicy")) => Route::SetIamPolicy(p.to_owned()),
            _ => return None,
        },
        ["projects", "-", "serviceAccounts", sa_verb] if m == Method::POST => {
            match split_verb(sa_verb) {
                (email, Some("generateAccessToken")) => {
                    Route::GenerateAccessToken(email.to_owned())
                }
                _ => return None,
            }
        }
        ["projects", p, "locations"] if m == Method::GET => Route::ListLocations {
            project: (*p).to_owned(),
        },
        ["projects", p, "locations", l] if m == Method::GET => Route::GetLocation {
            project: (*p).to_owned(),
            location: (*l).to_owned(),
        },
        [
            "projects",
            p,
            "locations",
            l,
            "sharedRegionalCertificateAuthority",
        ] if m == Method::GET => Route::GetSharedRegionalCertificateAuthority(loc(p, l)?),
        ["projects", p, "locations", l, collection] if Collection::of(collection).is_some() => {
            let product = Collection::of(collection)?;
            match m {
                Method::GET => Route::List(product, loc(p, l)?),
                Method::POST => Route::Create(product, loc(p, l)?),
                _ => return None,
            }
        }
        ["projects", p, "locations", l, collection, r_verb]
            if Collection::of(collection).is_some() =>
        {
            let product = Collection::of(collection)?;
            let (r, verb) = split_verb(r_verb);
            let name = format!("projects/{p}/locations/{l}/{collection}/{r}");
            match (m, verb, product) {
                (Method::GET, None, _) => Route::Get(product, name),
                (Method::PATCH, None, _) => Route::Patch(product, name),
                (Method::DELETE, None, _) => Route::Delete(product, name),
                (Method::POST, Some("backup"), _) => Route::Backup(product, name),
                (Method::POST, Some("rescheduleClusterMaintenance"), Collection::Clusters) => {
                    Route::Unimplemented("clusters.rescheduleClusterMaintenance")
                }
                (Method::POST, Some("rescheduleMaintenance"), Collection::Instances) => {
                    Route::RescheduleMaintenance(product, name)
                }
                _ => return None,
            }
        }
        [
            "projects",
            p,
            "locations",
            l,
            collection,
            r,
            "certificateAuthority",
        ] if m == Method::GET => Route::GetCertificateAuthority(
            Collection::of(collection)?,
            format!("projects/{p}/locations/{l}/{collection}/{r}"),
        ),
        ["projects", p, "locations", l, "backupCollections"] if m == Method::GET => {
            Route::ListBackupCollections(loc(p, l)?)
        }
        ["projects", p, "locations", l, "backupCollections", c] if m == Method::GET => {
            Route::GetBackupCollection(format!("projects/{p}/locations/{l}/backupCollections/{c}"))
        }
        [
            "projects",
            p,
            "locations",
            l,
            "backupCollections",
            c,
            "backups",
        ] if m == Method::GET => {
            Route::ListBackups(format!("projects/{p}/locations/{l}/backupCollections/{c}"))
        }
        [
            "projects",
            p,
            "locations",
            l,
            "backupCollections",
            c,
            "backups",
            b_verb,
        ] => {
            let (b, verb) = split_verb(b_verb);
            let name = format!("projects/{p}/locations/{l}/backupCollections/{c}/backups/{b}");
            match (m, verb) {
                (Method::GET, None) => Route::GetBackup(name),
                (Method::DELETE, None) => Route::DeleteBackup(name),
                (Method::POST, Some("export")) => Route::ExportBackup(name),
                _ => return None,
            }
        }
        ["projects", p, "locations", l, "operations"] if m == Method::GET => {
            Route::ListOperations(loc(p, l)?)
        }
        ["projects", p, "locations", l, "operations", o_verb] => {
            let (o, verb) = split_verb(o_verb);
            let name = format!("projects/{p}/locations/{l}/operations/{o}");
            match (m, verb) {
                (Method::GET, None) => Route::GetOperation(name),
                (Method::DELETE, None) => Route::DeleteOperation(name),
                (Method::POST, Some("cancel")) => Route::CancelOperation(name),
                _ => return None,
            }
        }
        _ => return None,
    })
}

fn json_ok(v: Value) -> Response {
    let mut r = axum::Json(v).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

/// Whether a request path belongs to the Google APIs.
pub fn owns(path: &str) -> bool {
    path == "/token" || path.starts_with("/v1/") || path.starts_with("/v3/")
}

pub async fn handle(
    shared: Arc<Shared>,
    method: Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(route) = resolve(&method, path) else {
        return RpcError::new(
            Code::NotFound,
            format!("The requested URL {path} was not found on this server."),
        )
        .into_response();
    };
    let (api, operation) = route.api_and_operation();
    let host = route.host();
    let verdict = shared.faults.verdict(operation);
    if !verdict.latency.is_zero() {
        tokio::time::sleep(verdict.latency).await;
    }
    let q = Query::parse(query);
    let failure = |e: RpcError| {
        let outcome = e.code.as_str().to_owned();
        (e.into_response(), outcome)
    };
    let (response, outcome) = match route {
        // The token endpoint takes no bearer token.
        Route::Token => match verdict.injected {
            Some(i) => failure(injected(host, i)),
            None => identity::oauth_token(&shared, &body),
        },
        route => {
            let auth = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let result = identity::check_caller(&shared, auth)
                .and_then(|_| q.check_known(route.query_fields()))
                .and_then(|_| match verdict.injected {
                    Some(i) => Err(injected(host, i)),
                    None => dispatch(&shared, route, &q, &body),
                });
            match result {
                // Carried out, but the caller never hears of it.
                Ok(_) if shared.faults.take_lost_response(operation) => {
                    failure(injected(host, Injected::Unavailable))
                }
                Ok(v) => (json_ok(v), OK.to_owned()),
                Err(e) => failure(e),
            }
        }
    };
    shared.counters.record(api, operation, &outcome);
    response
}

/// An injected fault in the API's own words.
fn injected(host: &str, i: Injected) -> RpcError {
    match i {
        Injected::Throttled => RpcError::new(
            Code::ResourceExhausted,
            format!("Quota exceeded for quota metric 'Requests' of service '{host}'."),
        ),
        Injected::Unavailable => {
            RpcError::new(Code::Unavailable, "The service is currently unavailable.")
        }
    }
}

fn dispatch(shared: &Arc<Shared>, route: Route, q: &Query, body: &[u8]) -> Result<Value, RpcError> {
    match route {
        Route::ListLocations { project } => locations::list(shared, &project),
        Route::GetLocation { project, location } => locations::get(&project, &location),
        Route::List(Collection::Clusters, parent) => {
            managed::list::<Clusters>(shared, &parent, q, "clusters")
        }
        Route::List(Collection::Instances, parent) => {
            managed::list::<Instances>(shared, &parent, q, "instances")
        }
        Route::Create(Collection::Clusters, parent) => clusters::create(shared, &parent, q, body),
        Route::Create(Collection::Instances, parent) => instances::create(shared, &parent, q, body),
        Route::Get(Collection::Clusters, name) => managed::get::<Clusters>(shared, &name, q),
        Route::Get(Collection::Instances, name) => managed::get::<Instances>(shared, &name, q),
        Route::Patch(Collection::Clusters, name) => clusters::patch(shared, &name, q, body),
        Route::Patch(Collection::Instances, name) => instances::patch(shared, &name, q, body),
        Route::Delete(Collection::Clusters, name) => managed::delete::<Clusters>(shared, &name, q),
        Route::Delete(Collection::Instances, name) => {
            managed::delete::<Instances>(shared, &name, q)
        }
        Route::GetCertificateAuthority(Collection::Clusters, name) => {
            clusters::certificate_authority(shared, &name)
        }
        Route::GetCertificateAuthority(Collection::Instances, name) => {
            instances::certificate_authority(shared, &name)
        }
        Route::Backup(Collection::Clusters, name) => {
            backups::backup::<Clusters>(shared, &name, q, body)
        }
        Route::Backup(Collection::Instances, name) => {
            backups::backup::<Instances>(shared, &name, q, body)
        }
        Route::RescheduleMaintenance(Collection::Clusters, name) => {
            managed::reschedule_maintenance::<Clusters>(shared, &name, q, body)
        }
        Route::RescheduleMaintenance(Collection::Instances, name) => {
            managed::reschedule_maintenance::<Instances>(shared, &name, q, body)
        }
        Route::GetSharedRegionalCertificateAuthority(location) => {
            instances::shared_regional_certificate_authority(shared, &location)
        }
        Route::ListBackupCollections(parent) => backups::list_collections(shared, &parent, q),
        Route::GetBackupCollection(name) => backups::get_collection(shared, &name),
        Route::ListBackups(collection) => backups::list_backups(shared, &collection, q),
        Route::GetBackup(name) => backups::get_backup(shared, &name, q),
        Route::DeleteBackup(name) => backups::delete_backup(shared, &name, q),
        Route::ExportBackup(name) => backups::export_backup(shared, &name, q, body),
        Route::Unimplemented(op) => Err(RpcError::new(
            Code::Unimplemented,
            format!("{op} is not simulated"),
        )),
        Route::ListOperations(parent) => operations::list(shared, &parent, q),
        Route::GetOperation(name) => operations::get(shared, &name, q),
        Route::DeleteOperation(name) => operations::delete(shared, &name),
        Route::CancelOperation(name) => operations::cancel(shared, &name),
        Route::GetIamPolicy(project) => identity::get_iam_policy(shared, &project, body),
        Route::SetIamPolicy(project) => identity::set_iam_policy(shared, &project, body),
        Route::GenerateAccessToken(email) => identity::generate_access_token(shared, &email, body),
        Route::Token => Err(RpcError::new(
            Code::Internal,
            "token route dispatched as JSON",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_to_the_documented_methods() {
        let r = |m: Method, p: &str| resolve(&m, p).map(|r| r.api_and_operation().1);
        assert_eq!(
            r(
                Method::POST,
                "/v1/projects/p/locations/us-central1/clusters"
            ),
            Some("clusters.create")
        );
        assert_eq!(
            r(Method::GET, "/v1/projects/p/locations/-/clusters"),
            Some("clusters.list")
        );
        assert_eq!(
            r(Method::PATCH, "/v1/projects/p/locations/l/clusters/c"),
            Some("clusters.patch")
        );
        assert_eq!(
            r(
                Method::GET,
                "/v1/projects/p/locations/l/clusters/c/certificateAuthority"
            ),
            Some("clusters.getCertificateAuthority")
        );
        assert_eq!(
            r(Method::GET, "/v1/projects/p/locations/l/operations/op-1"),
            Some("operations.get")
        );
        assert_eq!(
            r(
                Method::POST,
                "/v1/projects/p/locations/l/operations/op-1:cancel"
            ),
            Some("operations.cancel")
        );
        assert_eq!(
            r(Method::POST, "/v1/projects/p:getIamPolicy"),
            Some("projects.getIamPolicy")
        );
        assert_eq!(
            r(Method::POST, "/v1/projects/p:setIamPolicy"),
            Some("projects.setIamPolicy")
        );
        assert_eq!(
            r(
                Method::POST,
                "/v1/projects/-/serviceAccounts/sa%40p.iam.gserviceaccount.com:generateAccessToken"
            ),
            Some("serviceAccounts.generateAccessToken")
        );
        assert_eq!(r(Method::POST, "/token"), Some("token"));
        assert_eq!(
            r(Method::PUT, "/v1/projects/p/locations/l/clusters/c"),
            None
        );
        match resolve(
            &Method::POST,
            "/v1/projects/-/serviceAccounts/sa%40p.iam.gserviceaccount.com:generateAccessToken",
        ) {
            Some(Route::GenerateAccessToken(e)) => assert_eq!(e, "sa@p.iam.gserviceaccount.com"),
            other => panic!("{other:?}"),
        }
    }
}
