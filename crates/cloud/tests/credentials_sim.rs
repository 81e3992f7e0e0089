//! A failed token request is classified from what went wrong: a refused key or identity is a
//! permission problem; a token endpoint or STS that is down, throttling or slow is transient and
//! is retried like any cloud call (issue 10). The simulator's fault injection makes them fail.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use cache_operator_api::model::{AwsCluster, DesiredCluster};
use cache_operator_cloud::Clusters;
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud::aws::{AwsClients, AwsClusters};
use cache_operator_cloud::error::NoObserver;
use cache_operator_cloud::gcp::memorystore::Memorystore;
use cache_operator_cloud::gcp::token::KeyFileTokens;
use cache_operator_cloud::gcp::{GcpAuth, GoogleRest};
use serde_json::{Value, json};

const SA: &str = "operator@shop-prod.iam.gserviceaccount.com";

async fn sim() -> cloudsim::Running {
    cloudsim::Sim::start(cloudsim::Config {
        redis: cloudsim::RedisBacking::Disabled,
        ..Default::default()
    })
    .await
    .expect("cloudsim starts")
}

async fn admin(sim: &cloudsim::Running, method: reqwest::Method, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}/_cloudsim/{path}", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

async fn faults(sim: &cloudsim::Running, spec: Value) {
    admin(sim, reqwest::Method::PUT, "faults", spec).await;
}

async fn key(sim: &cloudsim::Running) -> String {
    admin(
        sim,
        reqwest::Method::POST,
        "gcp/service-account-keys",
        json!({"email": SA}),
    )
    .await
    .to_string()
}

/// A Memorystore call made with `auth` (each call here starts without a cached token).
async fn list_with(
    sim: &cloudsim::Running,
    auth: GcpAuth,
) -> cache_operator_cloud::error::Result<()> {
    let rest = GoogleRest::new(auth, Arc::new(NoObserver));
    Memorystore::new(rest, sim.base_url())
        .list_clusters("projects/shop-prod/locations/us-central1")
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_key_file_token_failure_says_whether_to_retry() {
    let sim = sim().await;
    let key = key(&sim).await;
    let auth = || {
        GcpAuth::key_file(&key)
            .unwrap()
            .expect("a service-account key")
    };
    list_with(&sim, auth()).await.expect("the key works");

    faults(&sim, json!({"errorRate": 1.0, "operations": ["token"]})).await;
    let e = list_with(&sim, auth()).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    assert!(e.class.is_transient());
    assert!(e.message.contains("503"), "{e}");

    faults(
        &sim,
        json!({"throttleBurst": {"requests": 1}, "operations": ["token"]}),
    )
    .await;
    let e = list_with(&sim, auth()).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Throttled, "{e}");
    list_with(&sim, auth()).await.expect("after the burst");

    // A token endpoint that does not answer in time.
    faults(&sim, json!({"latencyMs": 2000, "operations": ["token"]})).await;
    let slow = KeyFileTokens::from_json(&key)
        .unwrap()
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .unwrap();
    let e = list_with(&sim, GcpAuth::from_key_file(slow))
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    assert_eq!(e.code, "transport");
    faults(&sim, json!({})).await;

    // A key the endpoint does not know: refused for good, in the endpoint's words.
    let other = self::sim().await;
    let mut foreign: Value = serde_json::from_str(&self::key(&other).await).unwrap();
    foreign["token_uri"] = json!(format!("{}/token", sim.base_url()));
    let e = list_with(
        &sim,
        GcpAuth::key_file(&foreign.to_string()).unwrap().unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class, ErrorClass::Unauthenticated, "{e}");
    assert_eq!(e.code, "invalid_grant");
    assert!(!e.class.is_transient());

    // The operator's service account deleted: refused for good as well.
    admin(
        &sim,
        reqwest::Method::DELETE,
        &format!("gcp/service-accounts/{SA}"),
        json!({}),
    )
    .await;
    let e = list_with(&sim, auth()).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Unauthenticated, "{e}");
    assert!(e.message.contains("account not found"), "{e}");
    other.shutdown().await;
    sim.shutdown().await;
}

/// Through `gcp_auth` (metadata server, gcloud credentials) the status is not known, only that
/// the token request failed: that is retried with backoff rather than reported as a refusal.
#[tokio::test]
async fn a_gcp_auth_token_failure_is_transient() {
    let sim = sim().await;
    let key = key(&sim).await;
    let ambient = || {
        let provider = gcp_auth::CustomServiceAccount::from_json(&key).unwrap();
        GcpAuth::Ambient(Arc::new(provider), Arc::default())
    };
    faults(&sim, json!({"errorRate": 1.0, "operations": ["token"]})).await;
    let e = list_with(&sim, ambient()).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    faults(&sim, json!({})).await;
    list_with(&sim, ambient()).await.expect("recovered");
    sim.shutdown().await;
}

/// What aws-config's web identity provider (EKS IRSA) does, pointed at the simulator's STS:
/// the STS error becomes `CredentialsError::provider_error`.
#[derive(Debug)]
struct WebIdentity {
    sts: aws_sdk_sts::Client,
    token: String,
}

impl ProvideCredentials for WebIdentity {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let out = self
                .sts
                .assume_role_with_web_identity()
                .role_arn("arn:aws:iam::123456789012:role/cache-operator")
                .role_session_name("cache-operator")
                .web_identity_token(&self.token)
                .send()
                .await
                .map_err(CredentialsError::provider_error)?;
            let c = out
                .credentials
                .ok_or_else(|| CredentialsError::unhandled("no credentials"))?;
            Ok(Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                Some(c.session_token),
                None,
                "WebIdentityToken",
            ))
        })
    }
}

/// No credentials anywhere: the default chain's answer when nothing is configured.
#[derive(Debug)]
struct Nothing;

impl ProvideCredentials for Nothing {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no providers in chain provided credentials",
        )))
    }
}

async fn clusters_with(
    sim: &cloudsim::Running,
    creds: impl ProvideCredentials + 'static,
) -> AwsClusters {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .credentials_provider(creds)
        .load()
        .await;
    AwsClusters::new(AwsClients::from_config(
        conf,
        Some(sim.base_url().to_owned()),
        Arc::new(NoObserver),
    ))
}

async fn web_identity(sim: &cloudsim::Running, token: &str) -> AwsClusters {
    let sts_conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url(sim.base_url())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .no_credentials()
        .load()
        .await;
    let sts = aws_sdk_sts::Client::new(&sts_conf);
    clusters_with(
        sim,
        WebIdentity {
            sts,
            token: token.into(),
        },
    )
    .await
}

#[tokio::test]
async fn an_aws_credential_failure_says_whether_to_retry() {
    let sim = sim().await;
    // Any cluster of the region: listing its scope is the call.
    let spec: cache_operator_api::RedisClusterSpec = serde_json::from_value(json!({
        "provider": "aws", "region": "eu-west-1", "nodeType": "cache.t4g.small",
        "shardCount": 1, "replicasPerShard": 0, "authMode": "disabled",
        "aws": {"engine": "redis"}
    }))
    .unwrap();
    let DesiredCluster::Aws(scope): DesiredCluster = spec.desired("sessions").unwrap() else {
        unreachable!("an aws spec")
    };
    let scope: AwsCluster = scope;
    let jwt =
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6b3BzOm9wZXJhdG9yIn0.c2ln";
    web_identity(&sim, jwt)
        .await
        .list(&scope)
        .await
        .expect("STS credentials work");

    faults(
        &sim,
        json!({"errorRate": 1.0, "operations": ["AssumeRoleWithWebIdentity"]}),
    )
    .await;
    let e = web_identity(&sim, jwt)
        .await
        .list(&scope)
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Unavailable, "{e}");
    assert!(e.class.is_transient());
    faults(
        &sim,
        json!({"throttleBurst": {"requests": 1}, "operations": ["AssumeRoleWithWebIdentity"]}),
    )
    .await;
    let e = web_identity(&sim, jwt)
        .await
        .list(&scope)
        .await
        .unwrap_err();
    assert!(e.class.is_transient(), "{e}");
    assert_eq!(e.code, "Throttling");
    faults(&sim, json!({})).await;

    let e = web_identity(&sim, "not-a-jwt")
        .await
        .list(&scope)
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Unauthenticated, "{e}");
    assert_eq!(e.code, "InvalidIdentityToken");
    assert!(!e.class.is_transient());

    let e = clusters_with(&sim, Nothing)
        .await
        .list(&scope)
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::Unauthenticated, "{e}");
    assert_eq!(e.code, "CredentialsNotLoaded");
    sim.shutdown().await;
}

/// Credentials not found at startup are looked for again at a later use, instead of every gcp
/// call failing until the operator restarts; until then a call fails with the reason, as
/// classified where it was found (here a transient one).
#[tokio::test]
async fn credentials_not_found_at_startup_are_looked_for_again() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let sim = sim().await;
    let key = key(&sim).await;
    let looks = Arc::new(AtomicU32::new(0));
    let counted = looks.clone();
    let discover: cache_operator_cloud::gcp::Discover = Box::new(move || {
        let key = key.clone();
        let n = counted.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if n == 0 {
                Err(cache_operator_cloud::CloudError::new(
                    ErrorClass::Unavailable,
                    "timeout",
                    "the metadata server did not answer in time",
                    "gcp token",
                ))
            } else {
                Ok(GcpAuth::key_file(&key).unwrap().unwrap())
            }
        })
    });
    let auth = GcpAuth::pending(discover, None, Duration::ZERO);
    let rest = GoogleRest::new(auth.clone(), Arc::new(NoObserver));
    let api = Memorystore::new(rest, sim.base_url());
    let e = api
        .list_clusters("projects/shop-prod/locations/us-central1")
        .await
        .unwrap_err();
    assert!(e.class.is_transient(), "{e}");
    api.list_clusters("projects/shop-prod/locations/us-central1")
        .await
        .expect("found at the next use");
    api.list_clusters("projects/shop-prod/locations/us-central1")
        .await
        .expect("and kept");
    assert_eq!(looks.load(Ordering::SeqCst), 2, "found once, then kept");
    assert!(auth.fresh_token().await.unwrap().is_some());
}
