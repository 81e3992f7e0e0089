//! The cloud simulator's admin API, as tests use it.

use serde_json::Value;

use crate::process::Process;

/// The simulator's well-known AWS key pair (it verifies IAM auth tokens signed with it).
pub const AWS_ACCESS_KEY_ID: &str = "AKIDCLOUDSIM";
pub const AWS_SECRET_ACCESS_KEY: &str = "cloudsim-secret-access-key";

pub struct CloudSim {
    process: Process,
    http: reqwest::Client,
}

impl CloudSim {
    pub fn new(process: Process) -> Self {
        CloudSim {
            process,
            http: reqwest::Client::new(),
        }
    }

    pub fn process(&self) -> &Process {
        &self.process
    }

    pub fn base_url(&self) -> &str {
        self.process
            .url
            .as_deref()
            .expect("cloudsim announced its URL")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        anyhow::ensure!(status.is_success(), "cloudsim answered {status}: {text}");
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// `PUT /_cloudsim/config`
    pub async fn configure(&self, config: Value) -> anyhow::Result<()> {
        self.send(self.http.put(self.url("/_cloudsim/config")).json(&config))
            .await
            .map(drop)
    }

    /// `PUT /_cloudsim/faults`
    pub async fn faults(&self, faults: Value) -> anyhow::Result<()> {
        self.send(self.http.put(self.url("/_cloudsim/faults")).json(&faults))
            .await
            .map(drop)
    }

    pub async fn clear_faults(&self) -> anyhow::Result<()> {
        self.send(self.http.delete(self.url("/_cloudsim/faults")))
            .await
            .map(drop)
    }

    /// `GET /_cloudsim/counters`: `{api: {operation: {outcome: n}}}`.
    pub async fn counters(&self) -> anyhow::Result<Value> {
        self.send(self.http.get(self.url("/_cloudsim/counters")))
            .await
    }

    pub async fn reset_counters(&self) -> anyhow::Result<()> {
        self.send(self.http.delete(self.url("/_cloudsim/counters")))
            .await
            .map(drop)
    }

    /// `GET /_cloudsim/clusters`: every simulated cluster.
    pub async fn clusters(&self) -> anyhow::Result<Vec<Value>> {
        let v = self
            .send(self.http.get(self.url("/_cloudsim/clusters")))
            .await?;
        Ok(match v {
            Value::Array(a) => a,
            Value::Object(mut o) => o
                .remove("clusters")
                .and_then(|c| c.as_array().cloned())
                .unwrap_or_default(),
            _ => Vec::new(),
        })
    }

    /// The simulated cluster with this ID (gcp resource name or aws ARN ends with it).
    pub async fn find_cluster(&self, id: &str) -> anyhow::Result<Option<Value>> {
        let (slash, colon) = (format!("/{id}"), format!(":{id}"));
        Ok(self.clusters().await?.into_iter().find(|c| {
            c["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(&slash) || n.ends_with(&colon))
        }))
    }

    /// How many simulated clusters carry this ID (more than one would be a duplicate).
    pub async fn count_clusters(&self, id: &str) -> anyhow::Result<usize> {
        let (slash, colon) = (format!("/{id}"), format!(":{id}"));
        Ok(self
            .clusters()
            .await?
            .iter()
            .filter(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(&slash) || n.ends_with(&colon))
            })
            .count())
    }

    /// A service-account key file the simulator's OAuth endpoint accepts.
    pub async fn service_account_key(&self, email: &str) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(self.url("/_cloudsim/gcp/service-account-keys"))
                .json(&serde_json::json!({"email": email})),
        )
        .await
    }

    /// The CA that signs every TLS endpoint of the simulator.
    pub async fn ca_pem(&self) -> anyhow::Result<String> {
        Ok(self
            .http
            .get(self.url("/_cloudsim/ca.pem"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    /// An ElastiCache client of the simulator in `region`, signing with its well-known key pair.
    pub async fn elasticache(&self, region: &str) -> aws_sdk_elasticache::Client {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.base_url())
            .region(aws_config::Region::new(region.to_owned()))
            .credentials_provider(aws_sdk_elasticache::config::Credentials::new(
                AWS_ACCESS_KEY_ID,
                AWS_SECRET_ACCESS_KEY,
                None,
                None,
                "e2e",
            ))
            .load()
            .await;
        aws_sdk_elasticache::Client::new(&conf)
    }

    /// Total calls of an API whose operation name satisfies `pick`, by outcome filter.
    pub fn sum(
        counters: &Value,
        api: &str,
        pick: impl Fn(&str) -> bool,
        outcome: impl Fn(&str) -> bool,
    ) -> u64 {
        counters[api]
            .as_object()
            .map(|ops| {
                ops.iter()
                    .filter(|(op, _)| pick(op))
                    .flat_map(|(_, outcomes)| outcomes.as_object().into_iter().flatten())
                    .filter(|(o, _)| outcome(o))
                    .map(|(_, n)| n.as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    }
}
