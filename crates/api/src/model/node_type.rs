//! Node types each cloud offers for new clusters.

use std::fmt;

/// Memorystore for Redis Cluster node types of the v1 API (`NodeType` enum; the node
/// specification page lists their capacities).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GcpNodeType {
    SharedCoreNano,
    StandardSmall,
    HighmemMedium,
    HighcpuMedium,
    StandardLarge,
    HighmemXlarge,
    Highmem2xlarge,
}

impl GcpNodeType {
    pub const ALL: [GcpNodeType; 7] = [
        GcpNodeType::SharedCoreNano,
        GcpNodeType::StandardSmall,
        GcpNodeType::HighmemMedium,
        GcpNodeType::HighcpuMedium,
        GcpNodeType::StandardLarge,
        GcpNodeType::HighmemXlarge,
        GcpNodeType::Highmem2xlarge,
    ];

    /// The name users write (and gcloud accepts).
    pub fn name(self) -> &'static str {
        match self {
            GcpNodeType::SharedCoreNano => "redis-shared-core-nano",
            GcpNodeType::StandardSmall => "redis-standard-small",
            GcpNodeType::HighmemMedium => "redis-highmem-medium",
            GcpNodeType::HighcpuMedium => "redis-highcpu-medium",
            GcpNodeType::StandardLarge => "redis-standard-large",
            GcpNodeType::HighmemXlarge => "redis-highmem-xlarge",
            GcpNodeType::Highmem2xlarge => "redis-highmem-2xlarge",
        }
    }

    /// The enum value on the wire.
    pub fn api_value(self) -> &'static str {
        match self {
            GcpNodeType::SharedCoreNano => "REDIS_SHARED_CORE_NANO",
            GcpNodeType::StandardSmall => "REDIS_STANDARD_SMALL",
            GcpNodeType::HighmemMedium => "REDIS_HIGHMEM_MEDIUM",
            GcpNodeType::HighcpuMedium => "REDIS_HIGHCPU_MEDIUM",
            GcpNodeType::StandardLarge => "REDIS_STANDARD_LARGE",
            GcpNodeType::HighmemXlarge => "REDIS_HIGHMEM_XLARGE",
            GcpNodeType::Highmem2xlarge => "REDIS_HIGHMEM_2XLARGE",
        }
    }

    /// Total memory of one node in GB, which with the shard count gives `sizeGb`.
    pub fn capacity_gb(self) -> f64 {
        match self {
            GcpNodeType::SharedCoreNano => 1.4,
            GcpNodeType::StandardSmall => 6.5,
            GcpNodeType::HighmemMedium | GcpNodeType::HighcpuMedium => 13.0,
            GcpNodeType::StandardLarge => 26.0,
            GcpNodeType::HighmemXlarge => 58.0,
            GcpNodeType::Highmem2xlarge => 110.0,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn from_api_value(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.api_value() == value)
    }

    /// The node types of Memorystore for Valkey (`Instance.NodeType`).
    pub const VALKEY: [GcpNodeType; 4] = [
        GcpNodeType::SharedCoreNano,
        GcpNodeType::StandardSmall,
        GcpNodeType::HighmemMedium,
        GcpNodeType::HighmemXlarge,
    ];

    /// The Memorystore for Valkey name (gcloud's, without the `redis-` prefix), for the types
    /// that product offers.
    pub fn valkey_name(self) -> Option<&'static str> {
        Self::VALKEY
            .contains(&self)
            .then(|| self.name().trim_start_matches("redis-"))
    }

    /// The Memorystore for Valkey enum value on the wire (`SHARED_CORE_NANO`, …).
    pub fn valkey_api_value(self) -> Option<&'static str> {
        Self::VALKEY
            .contains(&self)
            .then(|| self.api_value().trim_start_matches("REDIS_"))
    }

    pub fn from_valkey_name(name: &str) -> Option<Self> {
        Self::VALKEY
            .into_iter()
            .find(|t| t.valkey_name() == Some(name))
    }

    pub fn from_valkey_api_value(value: &str) -> Option<Self> {
        Self::VALKEY
            .into_iter()
            .find(|t| t.valkey_api_value() == Some(value))
    }
}

impl fmt::Display for GcpNodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// ElastiCache current-generation node types (reference/elasticache-api.md §8). Previous
/// generation types cannot be used for new clusters; the `r6gd` data-tiering family needs
/// `DataTieringEnabled`, which this operator does not offer, so it is left out.
pub const AWS_NODE_TYPES: &[&str] = &[
    "cache.m7g.large",
    "cache.m7g.xlarge",
    "cache.m7g.2xlarge",
    "cache.m7g.4xlarge",
    "cache.m7g.8xlarge",
    "cache.m7g.12xlarge",
    "cache.m7g.16xlarge",
    "cache.m6g.large",
    "cache.m6g.xlarge",
    "cache.m6g.2xlarge",
    "cache.m6g.4xlarge",
    "cache.m6g.8xlarge",
    "cache.m6g.12xlarge",
    "cache.m6g.16xlarge",
    "cache.m5.large",
    "cache.m5.xlarge",
    "cache.m5.2xlarge",
    "cache.m5.4xlarge",
    "cache.m5.12xlarge",
    "cache.m5.24xlarge",
    "cache.m4.large",
    "cache.m4.xlarge",
    "cache.m4.2xlarge",
    "cache.m4.4xlarge",
    "cache.m4.10xlarge",
    "cache.t4g.micro",
    "cache.t4g.small",
    "cache.t4g.medium",
    "cache.t3.micro",
    "cache.t3.small",
    "cache.t3.medium",
    "cache.t2.micro",
    "cache.t2.small",
    "cache.t2.medium",
    "cache.r7g.large",
    "cache.r7g.xlarge",
    "cache.r7g.2xlarge",
    "cache.r7g.4xlarge",
    "cache.r7g.8xlarge",
    "cache.r7g.12xlarge",
    "cache.r7g.16xlarge",
    "cache.r6g.large",
    "cache.r6g.xlarge",
    "cache.r6g.2xlarge",
    "cache.r6g.4xlarge",
    "cache.r6g.8xlarge",
    "cache.r6g.12xlarge",
    "cache.r6g.16xlarge",
    "cache.r5.large",
    "cache.r5.xlarge",
    "cache.r5.2xlarge",
    "cache.r5.4xlarge",
    "cache.r5.12xlarge",
    "cache.r5.24xlarge",
    "cache.r4.large",
    "cache.r4.xlarge",
    "cache.r4.2xlarge",
    "cache.r4.4xlarge",
    "cache.r4.8xlarge",
    "cache.r4.16xlarge",
];

/// A node type from [`AWS_NODE_TYPES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AwsNodeType(&'static str);

impl AwsNodeType {
    pub fn from_name(name: &str) -> Option<Self> {
        AWS_NODE_TYPES
            .iter()
            .find(|t| **t == name)
            .map(|t| AwsNodeType(t))
    }

    pub fn name(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for AwsNodeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Every node type of both clouds: the `enum` of `spec.nodeType` in the CRD schema.
pub fn all_node_type_names() -> Vec<&'static str> {
    GcpNodeType::ALL
        .iter()
        .map(|t| t.name())
        .chain(GcpNodeType::VALKEY.iter().filter_map(|t| t.valkey_name()))
        .chain(AWS_NODE_TYPES.iter().copied())
        .collect()
}
