//! The three CustomResourceDefinitions, as the API server receives them.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::{AccessBinding, RedisCluster, UserGroup};

pub fn all() -> Vec<CustomResourceDefinition> {
    vec![RedisCluster::crd(), UserGroup::crd(), AccessBinding::crd()]
}
