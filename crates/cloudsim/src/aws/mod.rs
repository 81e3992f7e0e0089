//! The AWS side: the ElastiCache Query API (`POST /`, `Version=2015-02-02`), partitioned by the region of
//! each request's SigV4 credential scope, and the data-plane rule for IAM-authenticated users.

pub(crate) mod actions;
pub mod engine;
pub mod error;
pub(crate) mod global;
pub mod model;
pub mod params;
pub(crate) mod serverless;
pub(crate) mod serverless_snapshots;
pub mod sigv4;
pub(crate) mod snapshots;
pub mod sts;
pub mod windows;
pub mod xml;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use jiff::Timestamp;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::counters::{Api, OK};
use crate::dataplane::Decision;
use crate::faults::Injected;
use crate::sim::Shared;
use actions::Ctx;
use error::AwsError;
use model::Region;
use params::Params;

pub const API_VERSION: &str = "2015-02-02";

/// Every (region) of the simulator's one account.
#[derive(Debug, Default)]
pub struct AwsState {
    pub regions: BTreeMap<String, Region>,
    /// Temporary credentials STS issued, by access key id.
    pub sessions: BTreeMap<String, sts::Session>,
    /// Global datastores (account-wide).
    pub global: global::GlobalState,
}

/// The key pairs requests may be signed with: the configured ones and STS sessions not yet
/// expired (on the wall clock, as AWS checks them).
struct Keys<'a> {
    shared: &'a Shared,
}

impl sigv4::KeyStore for Keys<'_> {
    fn secret(&self, access_key_id: &str) -> Result<sigv4::Secret, AwsError> {
        if let Ok(s) = self.shared.config.aws_credentials[..].secret(access_key_id) {
            return Ok(s);
        }
        let aws = self.shared.aws.lock().expect("aws lock");
        let session = aws
            .sessions
            .get(access_key_id)
            .ok_or_else(sigv4::invalid_token)?;
        if session.expiration <= Timestamp::now() {
            return Err(AwsError::new(
                "ExpiredToken",
                403,
                "The security token included in the request is expired",
            ));
        }
        Ok(sigv4::Secret {
            secret_access_key: session.secret_access_key.clone(),
            session_token: Some(session.session_token.clone()),
        })
    }
}

type Handler = fn(&Ctx, &Params) -> Result<Vec<xml::El>, AwsError>;

fn handler(action: &str) -> Option<Handler> {
    Some(match action {
        "CreateReplicationGroup" => global::create_replication_group,
        "DescribeReplicationGroups" => actions::describe_replication_groups,
        "DescribeCacheClusters" => actions::describe_cache_clusters,
        "ModifyReplicationGroup" => global::modify_replication_group,
        "ModifyReplicationGroupShardConfiguration" => global::modify_shard_configuration,
        "IncreaseReplicaCount" => actions::increase_replica_count,
        "DecreaseReplicaCount" => actions::decrease_replica_count,
        "DeleteReplicationGroup" => global::delete_replication_group,
        "CreateGlobalReplicationGroup" => global::create,
        "DescribeGlobalReplicationGroups" => global::describe,
        "ModifyGlobalReplicationGroup" => global::modify,
        "IncreaseNodeGroupsInGlobalReplicationGroup" => global::increase_node_groups,
        "DecreaseNodeGroupsInGlobalReplicationGroup" => global::decrease_node_groups,
        "RebalanceSlotsInGlobalReplicationGroup" => global::rebalance_slots,
        "FailoverGlobalReplicationGroup" => global::failover,
        "DisassociateGlobalReplicationGroup" => global::disassociate,
        "DeleteGlobalReplicationGroup" => global::delete,
        "CreateSnapshot" => snapshots::create_snapshot,
        "DescribeSnapshots" => snapshots::describe_snapshots,
        "DeleteSnapshot" => snapshots::delete_snapshot,
        "CreateUser" => actions::create_user,
        "DescribeUsers" => actions::describe_users,
        "ModifyUser" => actions::modify_user,
        "DeleteUser" => actions::delete_user,
        "CreateUserGroup" => actions::create_user_group,
        "DescribeUserGroups" => actions::describe_user_groups,
        "ModifyUserGroup" => actions::modify_user_group,
        "DeleteUserGroup" => actions::delete_user_group,
        "CreateServerlessCache" => serverless::create,
        "DescribeServerlessCaches" => serverless::describe,
        "ModifyServerlessCache" => serverless::modify,
        "DeleteServerlessCache" => serverless::delete,
        "CreateServerlessCacheSnapshot" => serverless_snapshots::create,
        "DescribeServerlessCacheSnapshots" => serverless_snapshots::describe,
        "CopyServerlessCacheSnapshot" => serverless_snapshots::copy,
        "ExportServerlessCacheSnapshot" => serverless_snapshots::export,
        "DeleteServerlessCacheSnapshot" => serverless_snapshots::delete,
        "ListTagsForResource" => actions::list_tags,
        "AddTagsToResource" => actions::add_tags,
        "RemoveTagsFromResource" => actions::remove_tags,
        _ => return None,
    })
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    r
}

fn error_response(e: &AwsError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    xml_response(
        status,
        xml::error(e.kind(), e.code, &e.message, request_id),
        request_id,
    )
}

pub async fn handle(
    shared: Arc<Shared>,
    method: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let p = Params::parse(body, query);
    let action = p.get("Action").unwrap_or("").to_owned();
    if action == sts::ACTION {
        return handle_sts(&shared, &p, &request_id).await;
    }
    let operation = if handler(&action).is_some() {
        action.as_str()
    } else {
        "(unknown)"
    };
    let verdict = shared.faults.verdict(operation);
    if !verdict.latency.is_zero() {
        tokio::time::sleep(verdict.latency).await;
    }
    let result = (|| {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let has_date = headers.contains_key("x-amz-date") || headers.contains_key(header::DATE);
        let scope = sigv4::check_header(auth, has_date)?;
        sigv4::verify_request(
            &scope,
            auth.unwrap_or_default(),
            method,
            "/",
            query,
            headers,
            body,
            &Keys { shared: &shared },
        )?;
        if action.is_empty() {
            return Err(AwsError::new("MissingAction", 400, "Missing Action"));
        }
        let Some(h) = handler(&action) else {
            return Err(AwsError::new(
                "InvalidAction",
                400,
                format!("The action {action} is not valid for this web service."),
            ));
        };
        match p.get("Version") {
            Some(API_VERSION) => {}
            None => return Err(AwsError::missing("Version")),
            Some(v) => {
                return Err(AwsError::new(
                    "NoSuchVersion",
                    400,
                    format!(
                        "The requested version ({v}) of service AmazonElastiCache does not exist"
                    ),
                ));
            }
        }
        match verdict.injected {
            Some(Injected::Throttled) => return Err(AwsError::throttling()),
            Some(Injected::Unavailable) => return Err(AwsError::unavailable()),
            None => {}
        }
        let ctx = Ctx {
            shared: &shared,
            region: &scope.region,
        };
        h(&ctx, &p)
    })();
    let (response, outcome) = match result {
        Ok(els) => (
            xml_response(
                StatusCode::OK,
                xml::response(&action, els, &request_id),
                &request_id,
            ),
            OK,
        ),
        Err(e) => (error_response(&e, &request_id), e.code),
    };
    shared.counters.record(Api::Elasticache, operation, outcome);
    response
}

/// STS on the same endpoint: unsigned (the web identity token is the credential).
async fn handle_sts(shared: &Shared, p: &Params, request_id: &str) -> Response {
    let verdict = shared.faults.verdict(sts::ACTION);
    if !verdict.latency.is_zero() {
        tokio::time::sleep(verdict.latency).await;
    }
    let result = match (p.get("Version"), verdict.injected) {
        (Some(sts::VERSION), Some(Injected::Throttled)) => Err(AwsError::throttling()),
        (Some(sts::VERSION), Some(Injected::Unavailable)) => Err(AwsError::unavailable()),
        (Some(sts::VERSION), None) => {
            sts::assume_role_with_web_identity(p, Timestamp::now()).map(|(els, session)| {
                let mut aws = shared.aws.lock().expect("aws lock");
                let now = Timestamp::now();
                aws.sessions.retain(|_, s| s.expiration > now);
                aws.sessions.insert(session.access_key_id.clone(), session);
                els
            })
        }
        (None, _) => Err(AwsError::missing("Version")),
        (Some(v), _) => Err(AwsError::new(
            "InvalidAction",
            400,
            format!("Could not find operation {} for version {v}", sts::ACTION),
        )),
    };
    let (response, outcome) = match result {
        Ok(els) => (
            xml_response(
                StatusCode::OK,
                xml::response_in(sts::NAMESPACE, sts::ACTION, els, request_id),
                request_id,
            ),
            OK,
        ),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = xml::error_in(sts::NAMESPACE, e.kind(), e.code, &e.message, request_id);
            (xml_response(status, body, request_id), e.code)
        }
    };
    shared.counters.record(Api::Sts, sts::ACTION, outcome);
    response
}

/// The data-plane rule for a replication group: `AUTH <user> <token>` by an IAM user of an attached
/// user group is checked here (SigV4 presigned `connect` URL, TLS only); other credentials go to Redis.
pub fn decide(
    shared: &Shared,
    region: &str,
    rg_id: &str,
    user: Option<&str>,
    password: &str,
    tls: bool,
) -> Decision {
    let Some(user) = user else {
        return Decision::PassThrough;
    };
    let user_id = {
        let aws = shared.aws.lock().expect("aws lock");
        let Some(region_state) = aws.regions.get(region) else {
            return Decision::Reject;
        };
        let Some(rg) = region_state.rgs.get(rg_id) else {
            return Decision::Reject;
        };
        match region_state.iam_user(&rg.spec, user) {
            Some(u) => u.id.clone(),
            None => return Decision::PassThrough,
        }
    };
    let expected = sigv4::Expected {
        cache: rg_id,
        user_id: &user_id,
        region,
        resource_type: None,
    };
    verify_iam_auth(shared, &expected, user, password, tls)
}

/// Checks an IAM auth token presented by `user` for the cache and user `expected` names: over TLS
/// only, signed with a known key pair, not expired.
pub(crate) fn verify_iam_auth(
    shared: &Shared,
    expected: &sigv4::Expected<'_>,
    user: &str,
    password: &str,
    tls: bool,
) -> Decision {
    if !tls {
        tracing::info!(
            cache = expected.cache,
            user,
            "IAM authentication refused: the connection is not TLS"
        );
        return Decision::Reject;
    }
    let max = shared.tunables().aws_iam_token_max_lifetime;
    match sigv4::verify_iam_token(password, expected, &Keys { shared }, max, SystemTime::now()) {
        Ok(()) => Decision::Internal {
            user: user.to_owned(),
        },
        Err(e) => {
            tracing::info!(cache = expected.cache, user, reason = %e, "IAM auth token refused");
            Decision::Reject
        }
    }
}
