//! The AWS side: the ElastiCache Query API (`POST /`, `Version=2015-02-02`), partitioned by the region of
//! each request's SigV4 credential scope, and the data-plane rule for IAM-authenticated users.

pub(crate) mod actions;
pub(crate) mod common;
pub mod engine;
pub mod error;
pub(crate) mod events;
pub(crate) mod global;
pub mod model;
pub(crate) mod node_types;
pub(crate) mod parameter_groups;
pub mod params;
pub(crate) mod serverless;
pub(crate) mod serverless_snapshots;
pub mod sigv4;
pub(crate) mod snapshots;
pub mod sts;
pub(crate) mod subnet_groups;
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
use common::Ctx;
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
        "ListAllowedNodeTypeModifications" => node_types::list_allowed_node_type_modifications,
        "CreateSnapshot" => snapshots::create_snapshot,
        "CopySnapshot" => snapshots::copy_snapshot,
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
        "CreateCacheParameterGroup" => parameter_groups::create_cache_parameter_group,
        "DescribeCacheParameterGroups" => parameter_groups::describe_cache_parameter_groups,
        "ModifyCacheParameterGroup" => parameter_groups::modify_cache_parameter_group,
        "ResetCacheParameterGroup" => parameter_groups::reset_cache_parameter_group,
        "DeleteCacheParameterGroup" => parameter_groups::delete_cache_parameter_group,
        "DescribeCacheParameters" => parameter_groups::describe_cache_parameters,
        "DescribeEngineDefaultParameters" => parameter_groups::describe_engine_default_parameters,
        "CreateCacheSubnetGroup" => subnet_groups::create_cache_subnet_group,
        "DescribeCacheSubnetGroups" => subnet_groups::describe_cache_subnet_groups,
        "ModifyCacheSubnetGroup" => subnet_groups::modify_cache_subnet_group,
        "DeleteCacheSubnetGroup" => subnet_groups::delete_cache_subnet_group,
        "DescribeEvents" => events::describe_events,
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

/// Counter and fault name of an action the API does not have: the action itself when it looks
/// like one (so a gap shows by name), else `(unknown)`.
fn unknown_operation(action: &str) -> &str {
    if (1..=64).contains(&action.len()) && action.bytes().all(|b| b.is_ascii_alphanumeric()) {
        action
    } else {
        "(unknown)"
    }
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
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // One endpoint serves ElastiCache and STS: AWS tells them apart by host, a request here by
    // the service its signature is scoped to. The one unsigned STS call (the web identity token
    // is its credential) is known by its action.
    let request = Request {
        shared: &shared,
        method,
        query,
        headers,
        body,
        params: &p,
        action: &action,
        auth,
    };
    match sigv4::signed_service(auth) {
        Some("sts") => return handle_sts(&request, &request_id).await,
        None if action == sts::ASSUME_ROLE_WITH_WEB_IDENTITY => {
            return handle_sts(&request, &request_id).await;
        }
        _ => {}
    }
    let operation = if handler(&action).is_some() {
        action.as_str()
    } else {
        unknown_operation(&action)
    };
    let verdict = shared.faults.verdict(operation);
    if !verdict.latency.is_zero() {
        tokio::time::sleep(verdict.latency).await;
    }
    let result = (|| {
        let scope = request.verify("elasticache")?;
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

/// One Query API request as it arrived.
struct Request<'a> {
    shared: &'a Shared,
    method: &'a str,
    query: Option<&'a str>,
    headers: &'a HeaderMap,
    body: &'a [u8],
    params: &'a Params,
    action: &'a str,
    auth: Option<&'a str>,
}

impl Request<'_> {
    /// Checks the SigV4 signature for `service`; returns its scope.
    fn verify(&self, service: &'static str) -> Result<sigv4::Scope, AwsError> {
        let has_date =
            self.headers.contains_key("x-amz-date") || self.headers.contains_key(header::DATE);
        let scope = sigv4::check_header(self.auth, has_date, service)?;
        sigv4::verify_request(
            &scope,
            self.auth.unwrap_or_default(),
            self.method,
            "/",
            self.query,
            self.headers,
            self.body,
            &Keys {
                shared: self.shared,
            },
        )?;
        Ok(scope)
    }

    /// Who signed it: a configured key's IAM user, or the role session STS issued the key for.
    fn caller(&self, scope: &sigv4::Scope) -> sts::Identity {
        let aws = self.shared.aws.lock().expect("aws lock");
        match aws.sessions.get(&scope.access_key_id) {
            Some(session) => session.identity.clone(),
            None => sts::Identity::user(
                self.shared.config.aws_account_id.as_str(),
                &scope.access_key_id,
            ),
        }
    }
}

/// STS on the same endpoint: `AssumeRoleWithWebIdentity` unsigned (the web identity token is the
/// credential), everything else signed for `sts`.
async fn handle_sts(req: &Request<'_>, request_id: &str) -> Response {
    let shared = req.shared;
    let action = req.action;
    let operation = if sts::known(action) {
        action
    } else {
        unknown_operation(action)
    };
    let verdict = shared.faults.verdict(operation);
    if !verdict.latency.is_zero() {
        tokio::time::sleep(verdict.latency).await;
    }
    let result = (|| {
        let scope = if action == sts::ASSUME_ROLE_WITH_WEB_IDENTITY {
            None
        } else {
            Some(req.verify("sts")?)
        };
        match req.params.get("Version") {
            Some(sts::VERSION) => {}
            None => return Err(AwsError::missing("Version")),
            Some(_) if action.is_empty() => {}
            Some(_) => return Err(sts::invalid_action(action)),
        }
        if action.is_empty() {
            return Err(AwsError::new("MissingAction", 400, "Missing Action"));
        }
        if !sts::known(action) {
            return Err(sts::invalid_action(action));
        }
        match verdict.injected {
            Some(Injected::Throttled) => return Err(AwsError::throttling()),
            Some(Injected::Unavailable) => return Err(AwsError::unavailable()),
            None => {}
        }
        match scope {
            Some(scope) => Ok(sts::get_caller_identity(&req.caller(&scope))),
            None => sts::assume_role_with_web_identity(req.params, Timestamp::now()).map(
                |(els, session)| {
                    let mut aws = shared.aws.lock().expect("aws lock");
                    let now = Timestamp::now();
                    aws.sessions.retain(|_, s| s.expiration > now);
                    aws.sessions.insert(session.access_key_id.clone(), session);
                    els
                },
            ),
        }
    })();
    let (response, outcome) = match result {
        Ok(els) => (
            xml_response(
                StatusCode::OK,
                xml::response_in(sts::NAMESPACE, action, els, request_id),
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
    shared.counters.record(Api::Sts, operation, outcome);
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
