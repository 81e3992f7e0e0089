//! Integration tests: the simulator in-process, driven through HTTP, the ElastiCache SDK, gcp_auth and
//! real Redis connections. Data-plane tests need redis-server installed.

mod admin;
mod binary;
mod clis;
mod common;
mod dataplane;
mod elasticache;
mod elasticache_day2;
mod elasticache_ops;
mod global;
mod iam;
mod memorystore;
mod memorystore_day2;
mod parameter_groups;
mod replication;
mod serverless;
mod sts;
mod subnet_groups;
mod valkey;
