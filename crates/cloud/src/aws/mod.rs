//! AWS: ElastiCache through `aws-sdk-elasticache` with the default credential chain, one
//! client per region, and the IAM auth tokens of the data plane.

mod provider;
pub mod serverless;
pub mod token;
pub mod users;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::error::{CallObserver, CloudError, ErrorClass, Result, classify_aws};

pub use provider::{AwsClusters, OWNER_TAG, OWNER_UID_TAG};
pub use serverless::{AwsServerless, ServerlessCaches};
pub use token::{IamTokens, TokenResource};
pub use users::Users;

pub const API: &str = "elasticache";

/// Shared SDK configuration and a client per region.
#[derive(Clone)]
pub struct AwsClients {
    base: SdkConfig,
    endpoint: Option<String>,
    clients: Arc<Mutex<HashMap<String, Client>>>,
    observer: Arc<dyn CallObserver>,
}

impl AwsClients {
    /// The default credential chain (environment, web identity for IRSA, profiles, IMDS).
    /// `endpoint` overrides the ElastiCache endpoint (for the simulator); `AWS_ENDPOINT_URL_ELASTICACHE`
    /// is honoured by the SDK itself when it is unset.
    pub async fn from_env(endpoint: Option<String>, observer: Arc<dyn CallObserver>) -> Self {
        let base = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(60))
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .build(),
            )
            .load()
            .await;
        AwsClients {
            base,
            endpoint,
            clients: Arc::default(),
            observer,
        }
    }

    /// Clients on a given SDK configuration (tests: static credentials and an endpoint).
    pub fn from_config(
        base: SdkConfig,
        endpoint: Option<String>,
        observer: Arc<dyn CallObserver>,
    ) -> Self {
        AwsClients {
            base,
            endpoint,
            clients: Arc::default(),
            observer,
        }
    }

    pub fn sdk_config(&self) -> &SdkConfig {
        &self.base
    }

    pub fn client(&self, region: &str) -> Client {
        let mut clients = self.clients.lock().expect("client map lock");
        clients
            .entry(region.to_owned())
            .or_insert_with(|| {
                let mut b = aws_sdk_elasticache::config::Builder::from(&self.base)
                    .region(Region::new(region.to_owned()));
                if let Some(e) = &self.endpoint {
                    b = b.endpoint_url(e);
                }
                Client::from_conf(b.build())
            })
            .clone()
    }

    /// Run one SDK call, account for it and classify its failure.
    pub async fn call<T, E, F>(&self, operation: &str, fut: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let started = Instant::now();
        let result = fut.await;
        self.account(operation, started, result)
    }

    /// Every page of an SDK paginator, each accounted for as one call; the first failure ends
    /// the listing.
    pub async fn pages<T, E>(
        &self,
        operation: &str,
        mut pages: PaginationStream<std::result::Result<T, SdkError<E, HttpResponse>>>,
    ) -> Result<Vec<T>>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut out = Vec::new();
        loop {
            let started = Instant::now();
            let Some(page) = pages.next().await else {
                return Ok(out);
            };
            out.push(self.account(operation, started, page)?);
        }
    }

    fn account<T, E>(
        &self,
        operation: &str,
        started: Instant,
        result: std::result::Result<T, SdkError<E, HttpResponse>>,
    ) -> Result<T>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let result = result.map_err(|e| sdk_error(operation, e));
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        };
        self.observer
            .observe(API, operation, outcome, started.elapsed().as_secs_f64());
        result
    }
}

/// Why the credential chain gave no credentials, classified from what went wrong underneath:
/// nothing configured or a refused identity is a permission problem that waiting will not fix;
/// a timeout, a 5xx or throttling of STS or of the credential endpoint is transient.
fn credentials_error(call: &str, e: &CredentialsError) -> CloudError {
    let permanent = |code: &str, message: String| {
        CloudError::new(ErrorClass::Unauthenticated, code, message, call)
    };
    let transient =
        |code: &str, message: String| CloudError::new(ErrorClass::Unavailable, code, message, call);
    match e {
        CredentialsError::CredentialsNotLoaded(_) => permanent(
            "CredentialsNotLoaded",
            format!("no AWS credentials were found: {}", DisplayErrorContext(e)),
        ),
        CredentialsError::InvalidConfiguration(_) => permanent(
            "InvalidConfiguration",
            format!(
                "the AWS credential configuration is invalid: {}",
                DisplayErrorContext(e)
            ),
        ),
        CredentialsError::ProviderTimedOut(_) => transient(
            "ProviderTimedOut",
            "loading AWS credentials timed out".into(),
        ),
        _ => {
            if let Some(sts) =
                find_source::<SdkError<AssumeRoleWithWebIdentityError, HttpResponse>>(e)
            {
                return sts_error(call, sts);
            }
            if let Some(sts) = find_source::<SdkError<AssumeRoleError, HttpResponse>>(e) {
                return sts_error(call, sts);
            }
            // The container/pod-identity endpoint reports its status only in this message.
            let text = DisplayErrorContext(e).to_string();
            if let Some(status) = text
                .split("Non-success status from HTTP credential provider: ")
                .nth(1)
                .and_then(|rest| {
                    rest.trim_start_matches(|c: char| !c.is_ascii_digit())
                        .get(..3)
                })
                .and_then(|s| s.parse::<u16>().ok())
            {
                let class = classify_aws("", Some(status));
                return CloudError::new(
                    if class.is_transient() {
                        ErrorClass::Unavailable
                    } else {
                        ErrorClass::Unauthenticated
                    },
                    "CredentialsProvider",
                    format!("the AWS credential endpoint answered {status}"),
                    call,
                );
            }
            // "This may include errors like a 503 from STS or a file system error": retry.
            transient(
                "CredentialsProvider",
                format!("loading AWS credentials failed: {}", DisplayErrorContext(e)),
            )
        }
    }
}

/// STS refused or failed: its own code and status decide.
fn sts_error<E>(call: &str, e: &SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or("Unknown").to_owned();
    let message = format!(
        "STS: {}",
        e.message()
            .map_or_else(|| DisplayErrorContext(e).to_string(), str::to_owned)
    );
    let class = match (e, code.as_str()) {
        (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_), _) => ErrorClass::Unavailable,
        // The identity provider could not be reached: STS documents it as retryable.
        (_, "IDPCommunicationError") => ErrorClass::Unavailable,
        (
            _,
            "InvalidIdentityToken"
            | "ExpiredTokenException"
            | "IDPRejectedClaim"
            | "AccessDenied"
            | "RegionDisabledException"
            | "InvalidClientTokenId"
            | "MalformedPolicyDocument",
        ) => ErrorClass::Unauthenticated,
        _ => match classify_aws(&code, status) {
            c if c.is_transient() => c,
            ErrorClass::Throttled | ErrorClass::Unavailable => ErrorClass::Unavailable,
            _ => ErrorClass::Unauthenticated,
        },
    };
    CloudError::new(class, code, message, call)
}

/// The first error of type `T` in `e`'s source chain (including `e`).
fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        next = err.source();
    }
    None
}

fn sdk_error<E>(operation: &str, e: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let call = format!("{API} {operation}");
    // Credentials are resolved before the request is sent: their failure arrives as a
    // dispatch failure whose source says what the chain ran into.
    if let Some(ce) = find_source::<CredentialsError>(&e) {
        return credentials_error(&call, ce);
    }
    match &e {
        SdkError::TimeoutError(_) => {
            CloudError::new(ErrorClass::Unavailable, "transport", "timed out", call)
        }
        SdkError::DispatchFailure(_) => CloudError::new(
            ErrorClass::Unavailable,
            "transport",
            "could not connect",
            call,
        ),
        SdkError::ConstructionFailure(_) => CloudError::new(
            ErrorClass::Other,
            "construction",
            "the request could not be built",
            call,
        ),
        _ => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let code = e.code().unwrap_or("Unknown").to_owned();
            let message = e.message().unwrap_or_default().to_owned();
            CloudError::new(classify_aws(&code, status), code, message, call)
        }
    }
}
