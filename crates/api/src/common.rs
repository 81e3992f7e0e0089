//! Small types shared by the three kinds.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rules;

/// Which cloud serves the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Google Cloud Memorystore for Redis Cluster.
    Gcp,
    /// Amazon ElastiCache (Redis OSS / Valkey).
    Aws,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Gcp => "gcp",
            Provider::Aws => "aws",
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to an object of ours in the same namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
pub struct LocalRef {
    #[schemars(length(min = 1, max = 253), pattern(rules::OBJECT_NAME_PATTERN))]
    pub name: String,
}

/// A reference to an object of ours, in this namespace unless `namespace` says otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
pub struct ObjectRef {
    #[schemars(length(min = 1, max = 253), pattern(rules::OBJECT_NAME_PATTERN))]
    pub name: String,
    /// Defaults to the referring object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(rules::NAMESPACE_PATTERN))]
    pub namespace: Option<String>,
}

impl ObjectRef {
    /// The namespace this reference points into, given the referrer's own.
    pub fn namespace_or<'a>(&'a self, own: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(own)
    }
}

/// `host:port` of one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HostPort {
    pub host: String,
    pub port: i32,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}
