//! Admin endpoints under `/_cloudsim/`: reset, counters, faults, tunables, service-account keys, tokens,
//! the CA certificate and a debug listing of every simulated cluster.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::TunablesPatch;
use crate::dataplane::{BackendKey, Readiness};
use crate::faults::FaultSpec;
use crate::gcp::backups;
use crate::gcp::clusters::Clusters;
use crate::gcp::instances::Instances;
use crate::gcp::protojson::ProtoEnum;
use crate::gcp::resource::{Managed, collection_of};
use crate::gcp::state::GcpState;
use crate::gcp::tokens::Principal;
use crate::sim::Shared;

type S = State<Arc<Shared>>;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/reset", post(reset))
        .route("/counters", get(counters).delete(clear_counters))
        .route("/faults", get(faults).put(set_faults).delete(clear_faults))
        .route("/config", get(config).put(set_config))
        .route("/gcp/service-account-keys", post(service_account_key))
        .route("/gcp/tokens", post(mint_token))
        .route("/gcp/service-accounts", post(create_service_account))
        .route(
            "/gcp/service-accounts/{email}",
            axum::routing::delete(delete_service_account),
        )
        .route("/aws/maintenance", post(aws_maintenance))
        .route("/gcp/maintenance", post(gcp_maintenance))
        .route("/clock", get(clock).post(advance_clock))
        .route("/ca.pem", get(ca_pem))
        .route("/clusters", get(clusters))
        .route("/clusters/rdb", get(cluster_rdb))
        .route("/storage", get(list_storage))
        .route(
            "/storage/{scheme}/{bucket}/{*object}",
            get(get_object).put(put_object),
        )
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": {"message": message.into()}})),
    )
        .into_response()
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, String> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

async fn reset(State(shared): S) -> Response {
    shared.reset().await;
    tracing::info!("state reset");
    axum::Json(json!({})).into_response()
}

async fn counters(State(shared): S) -> Response {
    axum::Json(shared.counters.snapshot()).into_response()
}

async fn clear_counters(State(shared): S) -> Response {
    shared.counters.clear();
    axum::Json(json!({})).into_response()
}

async fn faults(State(shared): S) -> Response {
    axum::Json(shared.faults.snapshot()).into_response()
}

async fn set_faults(State(shared): S, body: Bytes) -> Response {
    let spec: FaultSpec = match parse(&body) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    if let Err(e) = spec.validate() {
        return bad_request(e);
    }
    shared.faults.set(spec);
    axum::Json(shared.faults.snapshot()).into_response()
}

async fn clear_faults(State(shared): S) -> Response {
    shared.faults.clear();
    axum::Json(json!({})).into_response()
}

async fn config(State(shared): S) -> Response {
    axum::Json(shared.tunables()).into_response()
}

async fn set_config(State(shared): S, body: Bytes) -> Response {
    let patch: TunablesPatch = match parse(&body) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    match shared.update_tunables(|t| patch.apply(t)) {
        Ok(t) => axum::Json(t).into_response(),
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyRequest {
    email: String,
    #[serde(default)]
    project_id: Option<String>,
}

async fn service_account_key(State(shared): S, body: Bytes) -> Response {
    let req: KeyRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let token_uri = format!("{}/token", shared.base_url);
    // RSA key generation takes a moment; keep it off the async workers.
    let result = tokio::task::spawn_blocking(move || {
        shared
            .tokens
            .create_service_account_key(&req.email, req.project_id.as_deref(), &token_uri)
    })
    .await;
    match result {
        Ok(Ok(key)) => axum::Json(key).into_response(),
        Ok(Err(e)) => bad_request(e),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("key generation failed: {e}"),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccountRequest {
    email: String,
}

/// Creates a service account (again, after a delete: a new account with a new unique id).
async fn create_service_account(State(shared): S, body: Bytes) -> Response {
    let req: AccountRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    if !req.email.contains('@') {
        return bad_request(format!("email {:?} is not an email address", req.email));
    }
    let uid = shared
        .gcp
        .lock()
        .expect("gcp lock")
        .accounts
        .create(&req.email);
    axum::Json(json!({"email": req.email.to_ascii_lowercase(), "uniqueId": uid})).into_response()
}

/// Deletes a service account as Google Cloud does: bindings keep it as `deleted:…?uid=…`, its
/// tokens and keys stop working, and setIamPolicy refuses it as a member.
async fn delete_service_account(
    State(shared): S,
    axum::extract::Path(email): axum::extract::Path<String>,
) -> Response {
    let email = email.to_ascii_lowercase();
    let uid = {
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        let Some(uid) = gcp.accounts.delete(&email) else {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": {"message": format!("service account {email} is already deleted")}})),
            )
                .into_response();
        };
        gcp.policies.forget_account(&email, &uid);
        uid
    };
    shared.tokens.forget_service_account(&email);
    tracing::info!(%email, "service account deleted");
    axum::Json(json!({"email": email, "uniqueId": uid, "deleted": true})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenRequest {
    principal: String,
    #[serde(default)]
    lifetime_seconds: Option<u64>,
}

/// Mints a Google access token for any principal directly (no key file needed).
async fn mint_token(State(shared): S, body: Bytes) -> Response {
    let req: TokenRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let principal = match Principal::parse(&req.principal) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let max = shared.tunables().gcp_token_max_lifetime;
    let lifetime = req
        .lifetime_seconds
        .map_or(max, Duration::from_secs)
        .min(max);
    let minted = shared.tokens.mint(principal, lifetime);
    axum::Json(json!({
        "accessToken": minted.token,
        "expireTime": minted.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "expiresIn": lifetime.as_secs(),
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MaintenanceRequest {
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    replication_group_id: Option<String>,
}

/// Runs the ElastiCache maintenance window now: node changes made without `ApplyImmediately`
/// start applying.
async fn aws_maintenance(State(shared): S, body: Bytes) -> Response {
    let req: MaintenanceRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let started = crate::aws::actions::run_maintenance(
        &shared,
        req.region.as_deref(),
        req.replication_group_id.as_deref(),
    );
    axum::Json(json!({"started": started})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GcpMaintenanceRequest {
    name: String,
}

/// Publishes an upcoming Memorystore maintenance for a cluster or instance (`maintenanceSchedule`),
/// in its next maintenance window; it is done once the simulator's clock passes the window.
async fn gcp_maintenance(State(shared): S, body: Bytes) -> Response {
    let req: GcpMaintenanceRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let scheduled = match collection_of(&req.name) {
        Some("instances") => backups::schedule_maintenance::<Instances>(&shared, &req.name),
        _ => backups::schedule_maintenance::<Clusters>(&shared, &req.name),
    };
    match scheduled {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn clock(State(shared): S) -> Response {
    axum::Json(json!({
        "now": crate::util::rfc3339_micros(shared.clock.now()),
        "offsetSeconds": shared.clock.offset().as_secs(),
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AdvanceRequest {
    advance_seconds: u64,
}

/// Moves the simulator's clock forward: `requestId`s older than their retention stop replaying,
/// and ElastiCache maintenance windows that start on the way run.
async fn advance_clock(State(shared): S, body: Bytes) -> Response {
    let req: AdvanceRequest = match parse(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let (from, to) = shared
        .clock
        .advance(Duration::from_secs(req.advance_seconds));
    let maintenance = crate::aws::actions::run_due_maintenance(&shared, from, to);
    let mut maintained = backups::finish_maintenance::<Clusters>(&shared, to);
    maintained.extend(backups::finish_maintenance::<Instances>(&shared, to));
    let mut started = backups::run_due::<Clusters>(&shared, from, to);
    started.extend(backups::run_due::<Instances>(&shared, from, to));
    axum::Json(json!({
        "now": crate::util::rfc3339_micros(to),
        "offsetSeconds": shared.clock.offset().as_secs(),
        "maintenanceStarted": maintenance,
        "maintenanceDone": maintained,
        "automatedBackupsStarted": started,
    }))
    .into_response()
}

async fn ca_pem(State(shared): S) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        shared.ca.pem().to_owned(),
    )
        .into_response()
}

fn redis_json(shared: &Shared, key: &BackendKey) -> Value {
    match shared.dataplane.status(key) {
        None => json!({"running": false, "state": "none"}),
        Some(s) => {
            let state = match s.readiness {
                Readiness::Starting => "starting",
                Readiness::Ready(_) => "ready",
                Readiness::Failed => "failed",
                Readiness::Stopped => "stopped",
            };
            let socket = match &s.readiness {
                Readiness::Ready(path) => Some(path.display().to_string()),
                _ => None,
            };
            json!({"running": matches!(s.readiness, Readiness::Ready(_)), "state": state, "port": s.port,
                   "socket": socket})
        }
    }
}

/// `T`'s resources in the admin listing.
fn gcp_resources<T: Managed>(shared: &Shared, gcp: &GcpState, out: &mut Vec<Value>) {
    for (name, r) in T::table(gcp) {
        let c = &r.common;
        let settings = T::settings(&r.spec);
        out.push(json!({
            "provider": "gcp",
            "name": name,
            "state": c.state.name(),
            "endpoint": format!("{}:{}", c.endpoint.host, c.endpoint.port),
            "tls": settings.tls,
            "authMode": settings.auth_mode,
            "redis": redis_json(shared, &BackendKey::Gcp(name.clone())),
        }));
    }
}

async fn clusters(State(shared): S) -> Response {
    let mut out = Vec::new();
    {
        let gcp = shared.gcp.lock().expect("gcp lock");
        gcp_resources::<Clusters>(&shared, &gcp, &mut out);
        gcp_resources::<Instances>(&shared, &gcp, &mut out);
    }
    {
        let aws = shared.aws.lock().expect("aws lock");
        for (region, r) in &aws.regions {
            for (id, rg) in &r.rgs {
                let key = BackendKey::Aws {
                    region: region.clone(),
                    id: id.clone(),
                };
                out.push(json!({
                    "provider": "aws",
                    "name": rg.arn,
                    "state": rg.status,
                    "endpoint": format!("{}:{}", rg.endpoint.host, rg.endpoint.port),
                    "tls": rg.spec.transit.is_some(),
                    "userGroupIds": rg.spec.user_group_ids,
                    "redis": redis_json(&shared, &key),
                }));
            }
            for (name, c) in &r.serverless.caches {
                out.push(json!({
                    "provider": "aws",
                    "name": c.arn,
                    "state": c.status.as_str(),
                    "endpoint": format!("{}:{}", c.endpoint.host, c.endpoint.port),
                    "readerEndpoint": format!("{}:{}", c.reader_endpoint.host, c.reader_endpoint.port),
                    "tls": true,
                    "userGroupIds": c.spec.user_group_id.iter().collect::<Vec<_>>(),
                    "redis": redis_json(&shared, &crate::aws::serverless::key(region, name)),
                }));
            }
        }
    }
    axum::Json(json!({"clusters": out})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClusterRef {
    provider: String,
    /// gcp: the full cluster name.
    #[serde(default)]
    name: Option<String>,
    /// aws: region and replication group ID.
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

/// The data of a cluster as an RDB file (what a backup holds), for tests and for seeding the
/// object store.
async fn cluster_rdb(State(shared): S, Query(q): Query<ClusterRef>) -> Response {
    let key = match (q.provider.as_str(), q.name, q.region, q.id) {
        ("gcp", Some(name), None, None) => BackendKey::Gcp(name),
        ("aws", None, Some(region), Some(id)) => BackendKey::Aws {
            region,
            id: id.to_ascii_lowercase(),
        },
        _ => return bad_request("use provider=gcp&name=NAME or provider=aws&region=R&id=ID"),
    };
    match shared.dataplane.snapshot(&key).await {
        Some(rdb) => ([(header::CONTENT_TYPE, "application/octet-stream")], rdb).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no Redis data for {key}")})),
        )
            .into_response(),
    }
}

fn object_uri(scheme: &str, bucket: &str, object: &str) -> Option<String> {
    match scheme {
        "gs" | "s3" if !bucket.is_empty() && !object.is_empty() => {
            Some(format!("{scheme}://{bucket}/{object}"))
        }
        _ => None,
    }
}

const STORAGE_PATH: &str = "use /_cloudsim/storage/{gs|s3}/BUCKET/OBJECT";

async fn put_object(
    State(shared): S,
    Path((scheme, bucket, object)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    match object_uri(&scheme, &bucket, &object) {
        Some(uri) => {
            shared
                .storage
                .put(uri.clone(), crate::dataplane::Rdb::new(body.to_vec()));
            axum::Json(json!({"uri": uri, "size": body.len()})).into_response()
        }
        None => bad_request(STORAGE_PATH),
    }
}

async fn get_object(
    State(shared): S,
    Path((scheme, bucket, object)): Path<(String, String, String)>,
) -> Response {
    let Some(uri) = object_uri(&scheme, &bucket, &object) else {
        return bad_request(STORAGE_PATH);
    };
    match shared.storage.get(&uri) {
        Some(data) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            data.as_ref().clone(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("no object {uri}")})),
        )
            .into_response(),
    }
}

async fn list_storage(State(shared): S) -> Response {
    let objects: Vec<Value> = shared
        .storage
        .list()
        .into_iter()
        .map(|(uri, size)| json!({"uri": uri, "size": size}))
        .collect();
    axum::Json(json!({"objects": objects})).into_response()
}
