//! Memorystore for Redis Cluster v1: the wire types and calls this operator makes.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::GoogleRest;
use crate::error::{ErrorClass, Result};

pub const API: &str = "memorystore";

/// The `Cluster` resource, with the fields the operator reads or writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gb: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_encryption_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub psc_configs: Vec<PscConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovery_endpoints: Vec<DiscoveryEndpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_configs: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_distribution_config: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PscConfig {
    pub network: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryEndpoint {
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub port: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub name: String,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub error: Option<RpcStatus>,
    /// The finished operation's result: for a create, the Cluster it made (with its `uid`).
    #[serde(default)]
    pub response: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RpcStatus {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub message: String,
}

/// google.rpc code numbers to names, for operation errors.
pub fn rpc_code_name(code: i32) -> &'static str {
    match code {
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListClusters {
    #[serde(default)]
    clusters: Vec<Cluster>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateAuthority {
    #[serde(default)]
    managed_server_ca: Option<ManagedCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManagedCa {
    #[serde(default)]
    ca_certs: Vec<CertChain>,
}

#[derive(Deserialize)]
struct CertChain {
    #[serde(default)]
    certificates: Vec<String>,
}

/// Calls against one Memorystore endpoint.
#[derive(Clone)]
pub struct Memorystore {
    pub(crate) rest: GoogleRest,
    pub(crate) base: String,
}

impl Memorystore {
    pub fn new(rest: GoogleRest, base: &str) -> Self {
        Memorystore {
            rest,
            base: super::with_slash(base),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}v1/{path}", self.base)
    }

    pub async fn get_cluster(&self, name: &str) -> Result<Option<Cluster>> {
        let r = self
            .rest
            .call(API, "clusters.get", Method::GET, &self.url(name), |r| r)
            .await;
        match r {
            Err(e) if e.is(ErrorClass::NotFound) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Every cluster under `parent`, following `nextPageToken`.
    pub async fn list_clusters(&self, parent: &str) -> Result<Vec<Cluster>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page: ListClusters = self
                .rest
                .call(
                    API,
                    "clusters.list",
                    Method::GET,
                    &self.url(&format!("{parent}/clusters")),
                    |r| {
                        let r = r.query(&[("pageSize", "1000")]);
                        match &token {
                            Some(t) => r.query(&[("pageToken", t)]),
                            None => r,
                        }
                    },
                )
                .await?;
            out.extend(page.clusters);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    pub async fn create_cluster(
        &self,
        parent: &str,
        cluster_id: &str,
        request_id: &str,
        body: &Cluster,
    ) -> Result<Operation> {
        self.rest
            .call(
                API,
                "clusters.create",
                Method::POST,
                &self.url(&format!("{parent}/clusters")),
                |r| {
                    r.query(&[("clusterId", cluster_id), ("requestId", request_id)])
                        .json(body)
                },
            )
            .await
    }

    pub async fn patch_cluster(
        &self,
        name: &str,
        update_mask: &str,
        request_id: &str,
        body: &Cluster,
    ) -> Result<Operation> {
        self.rest
            .call(API, "clusters.patch", Method::PATCH, &self.url(name), |r| {
                r.query(&[("updateMask", update_mask), ("requestId", request_id)])
                    .json(body)
            })
            .await
    }

    pub async fn delete_cluster(&self, name: &str, request_id: &str) -> Result<Operation> {
        self.rest
            .call(
                API,
                "clusters.delete",
                Method::DELETE,
                &self.url(name),
                |r| r.query(&[("requestId", request_id)]),
            )
            .await
    }

    pub async fn get_operation(&self, name: &str) -> Result<Operation> {
        self.rest
            .call(API, "operations.get", Method::GET, &self.url(name), |r| r)
            .await
    }

    /// The managed server CA chain(s) as PEM, leaf to root.
    pub async fn certificate_authority(&self, cluster: &str) -> Result<Vec<String>> {
        let ca: CertificateAuthority = self
            .rest
            .call(
                API,
                "clusters.getCertificateAuthority",
                Method::GET,
                &self.url(&format!("{cluster}/certificateAuthority")),
                |r| r,
            )
            .await?;
        Ok(ca
            .managed_server_ca
            .map(|m| {
                m.ca_certs
                    .into_iter()
                    .flat_map(|c| c.certificates)
                    .collect()
            })
            .unwrap_or_default())
    }
}
