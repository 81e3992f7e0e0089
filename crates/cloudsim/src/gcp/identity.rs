//! IAM Credentials `generateAccessToken`, Cloud Resource Manager `getIamPolicy`/`setIamPolicy`, the
//! OAuth2 token endpoint, and the data-plane rule for Memorystore IAM authentication.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::error::RpcError;
use super::iam::SetRequest;
use super::protojson::Obj;
use super::resource::{Managed, State};
use super::tokens::{OAuthError, Principal};
use crate::dataplane::Decision;
use crate::sim::Shared;

/// The longest access token generateAccessToken issues without an organization policy.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Parses a google.protobuf.Duration in JSON form (`"3600s"`, `"1.5s"`).
fn parse_duration(field: &str, s: &str) -> Result<Duration, RpcError> {
    s.strip_suffix('s')
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            RpcError::bad_field(
                field,
                format!("Invalid duration {s:?}: use seconds with an 's' suffix, e.g. \"3600s\""),
            )
        })
}

pub fn generate_access_token(shared: &Shared, email: &str, body: &[u8]) -> Result<Value, RpcError> {
    let mut o = Obj::from_body(body, "request")?;
    let scope = o.array("scope")?.unwrap_or_default();
    let lifetime = o.string("lifetime")?;
    o.ignore(&["delegates"]);
    o.finish()?;
    if !email.contains('@') {
        return Err(RpcError::not_found(&format!(
            "projects/-/serviceAccounts/{email}"
        )));
    }
    if !shared.gcp.lock().expect("gcp lock").accounts.exists(email) {
        return Err(RpcError::new(
            super::error::Code::NotFound,
            format!("Not found; Gaia id not found for email {email}"),
        ));
    }
    if scope.is_empty()
        || !scope
            .iter()
            .all(|s| s.as_str().is_some_and(|s| !s.is_empty()))
    {
        return Err(RpcError::bad_field(
            "scope",
            "At least one OAuth scope is required",
        ));
    }
    let requested = match lifetime {
        Some(l) => parse_duration("lifetime", &l)?,
        None => Duration::from_secs(3600),
    };
    if requested.is_zero() {
        return Err(RpcError::bad_field("lifetime", "lifetime must be positive"));
    }
    // The service refuses (does not shorten) a lifetime over one hour unless an organization
    // policy extends it, which the simulator does not model.
    if requested > MAX_TOKEN_LIFETIME {
        return Err(RpcError::invalid(format!(
            "Access tokens for service account {email} can not have lifetimes of more than 1 hour. \
             Use the Org Policy Constraint constraints/iam.allowServiceAccountCredentialLifetimeExtension \
             to allow up to 12 hours."
        )));
    }
    // A test knob: tokens shorter than asked for, to exercise expiry.
    let lifetime = requested.min(shared.tunables().gcp_token_max_lifetime);
    let minted = shared
        .tokens
        .mint(Principal::service_account(email), lifetime);
    tracing::info!(principal = %format!("serviceAccount:{email}"), lifetime_s = lifetime.as_secs(), "minted access token");
    Ok(json!({
        "accessToken": minted.token,
        "expireTime": minted.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }))
}

pub fn get_iam_policy(shared: &Shared, project: &str, body: &[u8]) -> Result<Value, RpcError> {
    let mut o = Obj::from_body(body, "request")?;
    let requested = match o.object("options")? {
        Some(mut opts) => {
            let v = opts.int32("requestedPolicyVersion")?.unwrap_or(0);
            opts.finish()?;
            v
        }
        None => 0,
    };
    o.finish()?;
    if ![0, 1, 3].contains(&requested) {
        return Err(RpcError::bad_field(
            "options.requested_policy_version",
            format!("Invalid requested policy version {requested}; valid values are 0, 1 and 3"),
        ));
    }
    let gcp = shared.gcp.lock().expect("gcp lock");
    Ok(gcp.policies.get(project).render(requested))
}

pub fn set_iam_policy(shared: &Shared, project: &str, body: &[u8]) -> Result<Value, RpcError> {
    let req = SetRequest::parse(body)?;
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    if shared.faults.take_iam_conflict() {
        return Err(gcp.policies.bump_etag(project));
    }
    let super::state::GcpState {
        policies, accounts, ..
    } = &mut *gcp;
    let policy = policies.set(project, req, accounts)?;
    Ok(policy.render(3))
}

/// `POST /token`: the OAuth2 jwt-bearer grant used with service-account keys.
pub fn oauth_token(shared: &Shared, body: &[u8]) -> (Response, String) {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let fail = |e: OAuthError| {
        let outcome = e.error.to_owned();
        (
            (StatusCode::BAD_REQUEST, axum::Json(e.to_json())).into_response(),
            outcome,
        )
    };
    match get("grant_type") {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {}
        other => {
            return fail(OAuthError {
                error: "unsupported_grant_type",
                description: format!("Invalid grant_type: {}", other.unwrap_or("")),
            });
        }
    }
    let Some(assertion) = get("assertion") else {
        return fail(OAuthError {
            error: "invalid_request",
            description: "Missing required parameter: assertion".into(),
        });
    };
    if let Some(iss) = super::tokens::TokenStore::assertion_issuer(assertion)
        && !shared.gcp.lock().expect("gcp lock").accounts.exists(&iss)
    {
        return fail(OAuthError {
            error: "invalid_grant",
            description: "Invalid grant: account not found".into(),
        });
    }
    let email = match shared.tokens.verify_assertion(assertion, Timestamp::now()) {
        Ok(email) => email,
        Err(e) => return fail(e),
    };
    let lifetime = Duration::from_secs(3600).min(shared.tunables().gcp_token_max_lifetime);
    let minted = shared
        .tokens
        .mint(Principal::service_account(&email), lifetime);
    tracing::info!(principal = %format!("serviceAccount:{email}"), "issued OAuth access token");
    let body = json!({"access_token": minted.token, "expires_in": minted.lifetime.as_secs(), "token_type": "Bearer"});
    (
        (StatusCode::OK, axum::Json(body)).into_response(),
        crate::counters::OK.to_owned(),
    )
}

/// Checks the `Authorization` header of a Google API call: none is fine (gcloud with
/// `auth/disable_credentials`), a Bearer token must be one the simulator minted and still valid.
pub fn check_caller(
    shared: &Shared,
    authorization: Option<&str>,
) -> Result<Option<Principal>, RpcError> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(RpcError::unauthenticated)?;
    shared
        .tokens
        .check(token.trim())
        .map(Some)
        .map_err(|_| RpcError::unauthenticated())
}

/// The data-plane rule for a Memorystore resource: IAM auth admits `default` with any valid token of a
/// principal holding the product's connection role (`roles/redis.dbConnectionUser`,
/// `roles/memorystore.dbConnectionUser`) on the resource, IAM conditions on `resource.name`,
/// `resource.type` and `resource.service` honoured.
pub fn decide<T: Managed>(
    shared: &Shared,
    name: &str,
    user: Option<&str>,
    password: &str,
) -> Decision {
    let project = {
        let gcp = shared.gcp.lock().expect("gcp lock");
        match T::table(&gcp).get(name) {
            Some(r) if T::settings(&r.spec).iam_auth && r.common.state != State::DELETING => {
                r.common.parent.project.clone()
            }
            Some(_) => return Decision::PassThrough,
            None => return Decision::Reject,
        }
    };
    if user.is_some_and(|u| u != "default") {
        return Decision::Reject;
    }
    let Ok(principal) = shared.tokens.check(password) else {
        return Decision::Reject;
    };
    let gcp = shared.gcp.lock().expect("gcp lock");
    let granted = gcp.policies.get_ref(&project).is_some_and(|p| {
        p.grants(
            &principal,
            T::CONNECT_ROLE,
            name,
            &T::iam_resource_type(),
            T::SERVICE.host(),
        )
    });
    if granted {
        Decision::Internal {
            user: "default".into(),
        }
    } else {
        Decision::Reject
    }
}
