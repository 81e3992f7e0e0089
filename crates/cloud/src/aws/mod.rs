//! AWS: ElastiCache through `aws-sdk-elasticache` with the default credential chain, one
//! client per region, and the IAM auth tokens of the data plane.

mod provider;
pub mod token;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::error::{CallObserver, CloudError, ErrorClass, Result, classify_aws};

pub use provider::AwsClusters;

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
        let result = fut.await.map_err(|e| sdk_error(operation, e));
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        };
        self.observer
            .observe(API, operation, outcome, started.elapsed().as_secs_f64());
        result
    }
}

fn sdk_error<E>(operation: &str, e: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let call = format!("{API} {operation}");
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
