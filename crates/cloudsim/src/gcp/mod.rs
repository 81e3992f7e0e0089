//! The Google Cloud side: Memorystore for Redis Cluster v1, IAM Credentials, Cloud Resource Manager and
//! the OAuth2 token endpoint, all on the simulator's one port.

pub mod accounts;
pub mod backups;
pub mod cluster;
pub mod error;
pub mod iam;
pub mod identity;
pub mod lifecycle;
pub mod memorystore;
pub mod operations;
pub mod protojson;
pub mod tokens;

use std::sync::Arc;

use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::counters::{Api, OK};
use crate::faults::Injected;
use crate::sim::Shared;
use cluster::LocationName;
use error::{Code, RpcError};

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

#[derive(Debug)]
enum Route {
    ListLocations { project: String },
    GetLocation { project: String, location: String },
    ListClusters(LocationName),
    CreateCluster(LocationName),
    GetCluster(String),
    PatchCluster(String),
    DeleteCluster(String),
    GetCertificateAuthority(String),
    BackupCluster(String),
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
            ListClusters(_) => &["pageSize", "pageToken"],
            CreateCluster(_) => &["clusterId", "requestId"],
            PatchCluster(_) => &["updateMask", "requestId"],
            DeleteCluster(_) => &["requestId"],
            ListOperations(_) => &["filter", "pageSize", "pageToken", "returnPartialSuccess"],
            ListBackupCollections(_) | ListBackups(_) => &["pageSize", "pageToken"],
            DeleteBackup(_) => &["requestId"],
            GetLocation { .. }
            | GetCluster(_)
            | GetCertificateAuthority(_)
            | BackupCluster(_)
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
            ListClusters(_) => (Api::Memorystore, "clusters.list"),
            CreateCluster(_) => (Api::Memorystore, "clusters.create"),
            GetCluster(_) => (Api::Memorystore, "clusters.get"),
            PatchCluster(_) => (Api::Memorystore, "clusters.patch"),
            DeleteCluster(_) => (Api::Memorystore, "clusters.delete"),
            GetCertificateAuthority(_) => (Api::Memorystore, "clusters.getCertificateAuthority"),
            BackupCluster(_) => (Api::Memorystore, "clusters.backup"),
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
        ["projects", p, "locations", l, "clusters"] => match m {
            Method::GET => Route::ListClusters(loc(p, l)?),
            Method::POST => Route::CreateCluster(loc(p, l)?),
            _ => return None,
        },
        ["projects", p, "locations", l, "clusters", c_verb] => {
            let (c, verb) = split_verb(c_verb);
            let name = format!("projects/{p}/locations/{l}/clusters/{c}");
            match (m, verb) {
                (Method::GET, None) => Route::GetCluster(name),
                (Method::PATCH, None) => Route::PatchCluster(name),
                (Method::DELETE, None) => Route::DeleteCluster(name),
                (Method::POST, Some("backup")) => Route::BackupCluster(name),
                (Method::POST, Some("rescheduleClusterMaintenance")) => {
                    Route::Unimplemented("clusters.rescheduleClusterMaintenance")
                }
                _ => return None,
            }
        }
        [
            "projects",
            p,
            "locations",
            l,
            "clusters",
            c,
            "certificateAuthority",
        ] if m == Method::GET => {
            Route::GetCertificateAuthority(format!("projects/{p}/locations/{l}/clusters/{c}"))
        }
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
            Some(i) => failure(injected(api, i)),
            None => identity::oauth_token(&shared, &body),
        },
        route => {
            let auth = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let result = identity::check_caller(&shared, auth)
                .and_then(|_| q.check_known(route.query_fields()))
                .and_then(|_| match verdict.injected {
                    Some(i) => Err(injected(api, i)),
                    None => dispatch(&shared, route, &q, &body),
                });
            match result {
                Ok(v) => (json_ok(v), OK.to_owned()),
                Err(e) => failure(e),
            }
        }
    };
    shared.counters.record(api, operation, &outcome);
    response
}

fn host_of(api: Api) -> &'static str {
    match api {
        Api::Memorystore => "redis.googleapis.com",
        Api::Iamcredentials => "iamcredentials.googleapis.com",
        Api::Cloudresourcemanager => "cloudresourcemanager.googleapis.com",
        Api::Oauth2 => "oauth2.googleapis.com",
        Api::Elasticache => "elasticache.amazonaws.com",
        Api::Sts => "sts.amazonaws.com",
    }
}

/// An injected fault in the API's own words.
fn injected(api: Api, i: Injected) -> RpcError {
    match i {
        Injected::Throttled => RpcError::new(
            Code::ResourceExhausted,
            format!(
                "Quota exceeded for quota metric 'Requests' of service '{}'.",
                host_of(api)
            ),
        ),
        Injected::Unavailable => {
            RpcError::new(Code::Unavailable, "The service is currently unavailable.")
        }
    }
}

fn dispatch(shared: &Arc<Shared>, route: Route, q: &Query, body: &[u8]) -> Result<Value, RpcError> {
    match route {
        Route::ListLocations { project } => memorystore::list_locations(shared, &project),
        Route::GetLocation { project, location } => memorystore::get_location(&project, &location),
        Route::ListClusters(parent) => memorystore::list(shared, &parent, q),
        Route::CreateCluster(parent) => memorystore::create(shared, parent, q, body),
        Route::GetCluster(name) => memorystore::get(shared, &name, q),
        Route::PatchCluster(name) => memorystore::patch(shared, &name, q, body),
        Route::DeleteCluster(name) => memorystore::delete(shared, &name, q),
        Route::GetCertificateAuthority(name) => memorystore::certificate_authority(shared, &name),
        Route::BackupCluster(name) => backups::backup_cluster(shared, &name, q, body),
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
        Route::ListOperations(parent) => memorystore::list_operations(shared, &parent, q),
        Route::GetOperation(name) => memorystore::get_operation(shared, &name, q),
        Route::DeleteOperation(name) => memorystore::delete_operation(shared, &name),
        Route::CancelOperation(name) => memorystore::cancel_operation(shared, &name),
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
