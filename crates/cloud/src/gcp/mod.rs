//! Google Cloud: Memorystore for Redis Cluster (REST v1), IAM Credentials and Cloud Resource
//! Manager IAM policies, over `reqwest` with tokens from `gcp_auth`.

pub mod grants;
pub mod iam;
pub mod instances;
pub mod memorystore;
mod provider;
pub mod token;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{CallObserver, CloudError, ErrorClass, Result, classify_google};

pub use grants::Grants;
pub use iam::{AccessTokens, GoogleTokens};
pub use instances::GcpInstances;
pub use provider::GcpClusters;

pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Base URLs of the Google APIs used, each overridable (the simulator serves all of them on one
/// address).
#[derive(Clone, Debug)]
pub struct GcpEndpoints {
    pub redis: String,
    /// Memorystore for Valkey (`memorystore.googleapis.com`).
    pub memorystore: String,
    pub iam_credentials: String,
    pub resource_manager: String,
}

impl Default for GcpEndpoints {
    fn default() -> Self {
        GcpEndpoints {
            redis: "https://redis.googleapis.com/".into(),
            memorystore: "https://memorystore.googleapis.com/".into(),
            iam_credentials: "https://iamcredentials.googleapis.com/".into(),
            resource_manager: "https://cloudresourcemanager.googleapis.com/".into(),
        }
    }
}

impl GcpEndpoints {
    /// Every API at one base URL.
    pub fn all_at(base: &str) -> Self {
        let base = with_slash(base);
        GcpEndpoints {
            redis: base.clone(),
            memorystore: base.clone(),
            iam_credentials: base.clone(),
            resource_manager: base,
        }
    }
}

fn with_slash(s: &str) -> String {
    if s.ends_with('/') {
        s.to_owned()
    } else {
        format!("{s}/")
    }
}

/// Where the operator's own Google credentials come from.
#[derive(Clone)]
pub enum GcpAuth {
    /// Application Default Credentials through `gcp_auth` (Workload Identity, metadata server,
    /// gcloud), and the freshest token minted for Secrets.
    Ambient(
        Arc<dyn gcp_auth::TokenProvider>,
        Arc<tokio::sync::Mutex<Option<Minted>>>,
    ),
    /// A service-account key file (`GOOGLE_APPLICATION_CREDENTIALS`), exchanged by this crate so
    /// that a failure says what the token endpoint answered; the current token is cached.
    KeyFile(
        Arc<token::KeyFileTokens>,
        Arc<tokio::sync::Mutex<Option<Minted>>>,
    ),
    /// No `Authorization` header: for a simulator that runs without authentication.
    Anonymous,
    /// No credentials, and none to look for; every call fails saying why (tests).
    Missing(String),
    /// Application Default Credentials not found yet: looked for again at a use (at most once
    /// per [`LOOK_AGAIN`]) until found. At startup the metadata server may be slow or a key
    /// file not mounted yet; giving up for the process's life would leave every gcp object
    /// failing until a restart. Until found, a call fails with the last reason, classified
    /// like any token failure (a timeout is transient; no credentials at all is
    /// `Unauthenticated`).
    Pending(Arc<PendingAuth>),
}

/// How often [`GcpAuth::Pending`] looks for credentials again while none are found.
pub const LOOK_AGAIN: Duration = Duration::from_secs(10);

pub type Discover = Box<
    dyn Fn() -> std::pin::Pin<
            Box<dyn std::future::Future<Output = std::result::Result<GcpAuth, CloudError>> + Send>,
        > + Send
        + Sync,
>;

/// Credentials still to be found (see [`GcpAuth::Pending`]).
pub struct PendingAuth {
    discover: Discover,
    look_again: Duration,
    state: tokio::sync::Mutex<PendingState>,
}

#[derive(Default)]
struct PendingState {
    found: Option<GcpAuth>,
    last_failure: Option<(Instant, CloudError)>,
}

impl PendingAuth {
    /// The credentials, found now or earlier; the last failure while it is recent.
    async fn get(&self) -> std::result::Result<GcpAuth, CloudError> {
        let mut state = self.state.lock().await;
        if let Some(found) = &state.found {
            return Ok(found.clone());
        }
        if let Some((at, e)) = &state.last_failure
            && at.elapsed() < self.look_again
        {
            return Err(e.clone());
        }
        match (self.discover)().await {
            Ok(found) => {
                state.found = Some(found.clone());
                Ok(found)
            }
            Err(e) => {
                state.last_failure = Some((Instant::now(), e.clone()));
                Err(e)
            }
        }
    }
}

/// A token of the operator's own identity and when it was minted.
#[derive(Clone)]
pub struct Minted {
    token: String,
    expires: jiff::Timestamp,
    minted: jiff::Timestamp,
}

impl Minted {
    /// Still has at least two thirds of its lifetime: good enough to hand out again.
    fn is_fresh(&self, now: jiff::Timestamp) -> bool {
        self.left_at_least(now, 2.0 / 3.0)
    }

    /// At least `share` of its lifetime is left at `now`.
    fn left_at_least(&self, now: jiff::Timestamp, share: f64) -> bool {
        let lifetime = self.expires.duration_since(self.minted);
        let left = self.expires.duration_since(now);
        left.as_secs_f64() >= lifetime.as_secs_f64() * share
    }
}

impl GcpAuth {
    /// Application Default Credentials: a service-account key file named by
    /// `GOOGLE_APPLICATION_CREDENTIALS` is used directly, anything else through `gcp_auth`.
    pub async fn ambient() -> std::result::Result<Self, CloudError> {
        if let Some(path) = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
            let json = tokio::fs::read_to_string(&path).await.map_err(|e| {
                CloudError::new(
                    ErrorClass::Unauthenticated,
                    "credentials",
                    format!(
                        "GOOGLE_APPLICATION_CREDENTIALS ({}) cannot be read: {e}",
                        std::path::Path::new(&path).display()
                    ),
                    token::CALL,
                )
            })?;
            if let Some(key) = Self::key_file(&json)? {
                return Ok(key);
            }
        }
        let provider = gcp_auth::provider()
            .await
            .map_err(|e| token::gcp_auth_error(&e, token::Stage::Discover))?;
        Ok(GcpAuth::Ambient(provider, Arc::default()))
    }

    /// Application Default Credentials if found now, else looked for again at later uses (see
    /// [`GcpAuth::Pending`]); the error says why none were found this time.
    pub async fn ambient_or_later() -> (Self, Option<CloudError>) {
        match Self::ambient().await {
            Ok(auth) => (auth, None),
            Err(e) => (
                Self::pending(
                    Box::new(|| Box::pin(Self::ambient())),
                    Some(e.clone()),
                    LOOK_AGAIN,
                ),
                Some(e),
            ),
        }
    }

    /// Credentials that `discover` finds, looked for at a use (at most once per `look_again`)
    /// until found; `first` is a failure just seen (it counts as the latest look).
    pub fn pending(discover: Discover, first: Option<CloudError>, look_again: Duration) -> Self {
        GcpAuth::Pending(Arc::new(PendingAuth {
            discover,
            look_again,
            state: tokio::sync::Mutex::new(PendingState {
                found: None,
                last_failure: first.map(|e| (Instant::now(), e)),
            }),
        }))
    }

    /// Credentials from the JSON of a service-account key file; `None` for other kinds of
    /// credential files.
    pub fn key_file(json: &str) -> Result<Option<Self>> {
        Ok(token::KeyFileTokens::from_json(json)?.map(Self::from_key_file))
    }

    pub fn from_key_file(tokens: token::KeyFileTokens) -> Self {
        GcpAuth::KeyFile(Arc::new(tokens), Arc::default())
    }

    /// The operator's own access token and its expiry, for clients that connect as the
    /// operator's identity. A failure is classified from its cause: a refused key or missing
    /// credentials are `Unauthenticated`; a timeout, 5xx or 429 of the token source is
    /// transient (`Unavailable`/`Throttled`) and is retried like any cloud call.
    pub async fn token(&self) -> Result<Option<(String, jiff::Timestamp)>> {
        match self {
            GcpAuth::Anonymous => Ok(None),
            GcpAuth::Missing(why) => Err(CloudError::new(
                ErrorClass::Unauthenticated,
                "credentials",
                format!("no Google credentials: {why}"),
                token::CALL,
            )),
            GcpAuth::Pending(p) => Box::pin(p.get().await?.token()).await,
            GcpAuth::Ambient(p, _) => {
                let t =
                    tokio::time::timeout(token::FETCH_TIMEOUT, p.token(&[CLOUD_PLATFORM_SCOPE]))
                        .await
                        .map_err(|_| token::timed_out())?
                        .map_err(|e| token::gcp_auth_error(&e, token::Stage::Fetch))?;
                let expires = jiff::Timestamp::from_second(t.expires_at().timestamp())
                    .unwrap_or(jiff::Timestamp::MAX);
                Ok(Some((t.as_str().to_owned(), expires)))
            }
            GcpAuth::KeyFile(k, current) => {
                let mut current = current.lock().await;
                let now = jiff::Timestamp::now();
                // Like gcp_auth: keep a token until shortly before it expires.
                if let Some(m) = current
                    .as_ref()
                    .filter(|m| m.expires.duration_since(now).as_secs() > 60)
                {
                    return Ok(Some((m.token.clone(), m.expires)));
                }
                let (token, expires) = k.fetch(CLOUD_PLATFORM_SCOPE).await?;
                *current = Some(Minted {
                    token: token.clone(),
                    expires,
                    minted: now,
                });
                Ok(Some((token, expires)))
            }
        }
    }
}

impl GcpAuth {
    /// A token of the operator's own identity with most of its lifetime left, for Secrets. The
    /// shared provider caches its token until 20 s before expiry, so a fresh one comes from a new
    /// provider (key files, user credentials; the metadata server and gcloud keep their own
    /// caches) — at most once per third of a lifetime: building a provider loads credentials
    /// and TLS roots, and every binding asking at once must not each pay for it.
    pub async fn fresh_token(&self) -> Result<Option<(String, jiff::Timestamp)>> {
        match self {
            GcpAuth::Ambient(_, latest) => {
                let mut latest = latest.lock().await;
                let now = jiff::Timestamp::now();
                if let Some(m) = latest.as_ref().filter(|m| m.is_fresh(now)) {
                    return Ok(Some((m.token.clone(), m.expires)));
                }
                let provider = gcp_auth::provider()
                    .await
                    .map_err(|e| token::gcp_auth_error(&e, token::Stage::Discover))?;
                let fresh = GcpAuth::Ambient(provider, Arc::default()).token().await?;
                if let Some((token, expires)) = &fresh {
                    *latest = Some(Minted {
                        token: token.clone(),
                        expires: *expires,
                        minted: now,
                    });
                }
                Ok(fresh)
            }
            GcpAuth::KeyFile(k, current) => {
                let mut current = current.lock().await;
                let now = jiff::Timestamp::now();
                if let Some(m) = current.as_ref().filter(|m| m.left_at_least(now, 2.0 / 3.0)) {
                    return Ok(Some((m.token.clone(), m.expires)));
                }
                let (token, expires) = k.fetch(CLOUD_PLATFORM_SCOPE).await?;
                *current = Some(Minted {
                    token: token.clone(),
                    expires,
                    minted: now,
                });
                Ok(Some((token, expires)))
            }
            GcpAuth::Pending(p) => Box::pin(p.get().await?.fresh_token()).await,
            other => other.token().await,
        }
    }
}

/// A Google REST client: authentication, error mapping and call accounting in one place.
#[derive(Clone)]
pub struct GoogleRest {
    http: reqwest::Client,
    auth: GcpAuth,
    observer: Arc<dyn CallObserver>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: GoogleStatus,
}

#[derive(Deserialize)]
struct GoogleStatus {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

impl GoogleRest {
    pub fn new(auth: GcpAuth, observer: Arc<dyn CallObserver>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("a default reqwest client builds");
        GoogleRest {
            http,
            auth,
            observer,
        }
    }

    /// Send one request; 2xx bodies are parsed as `T`, anything else becomes a classified
    /// [`CloudError`]. `api`/`operation` name the call for metrics and messages.
    pub async fn call<T: DeserializeOwned>(
        &self,
        api: &str,
        operation: &str,
        method: Method,
        url: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<T> {
        let call = format!("{api} {operation}");
        let started = Instant::now();
        let result = self.send(&call, method, url, build).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        };
        self.observer
            .observe(api, operation, outcome, started.elapsed().as_secs_f64());
        let body = result?;
        serde_json::from_slice(&body).map_err(|e| {
            CloudError::new(
                ErrorClass::Other,
                "decode",
                format!("unexpected response: {e}"),
                call,
            )
        })
    }

    async fn send(
        &self,
        call: &str,
        method: Method,
        url: &str,
        build: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<bytes::Bytes> {
        let mut req = build(self.http.request(method, url));
        if let Some((token, _)) = self.auth.token().await.map_err(|e| CloudError {
            call: call.into(),
            ..e
        })? {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| transport(call, &e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| transport(call, &e))?;
        if status.is_success() {
            return Ok(body);
        }
        Err(google_error(call, status, &body))
    }
}

fn transport(call: &str, e: &reqwest::Error) -> CloudError {
    // Without the URL: a message must never carry more than the call's name.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    CloudError::new(ErrorClass::Unavailable, "transport", kind, call)
}

fn google_error(call: &str, status: StatusCode, body: &[u8]) -> CloudError {
    match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(env) => {
            let code = if env.error.status.is_empty() {
                status.as_u16().to_string()
            } else {
                env.error.status
            };
            CloudError::new(
                classify_google(&code, status.as_u16()),
                code,
                env.error.message,
                call,
            )
        }
        Err(_) => CloudError::new(
            classify_google("", status.as_u16()),
            status.as_u16().to_string(),
            status.canonical_reason().unwrap_or("error").to_owned(),
            call,
        ),
    }
}
