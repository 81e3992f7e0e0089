//! Manifests of our kinds that several test files apply, in the project and regions the tests
//! run against, built with the shared test kit.

use cache_operator_testkit::cluster;
use serde_json::Value;

use crate::{gcp_project, gcp_region};

/// A small gcp cluster with IAM authentication and TLS that lists `groups`: what bindings of
/// service accounts connect to.
pub fn gcp_iam_cluster(name: &str, id: &str, groups: &[&str]) -> Value {
    cluster::gcp(name)
        .instance_id(id)
        .region(&gcp_region())
        .replicas(0)
        .auth("iam")
        .tls(true)
        .project(&gcp_project())
        .user_groups(groups)
        .into_json()
}
