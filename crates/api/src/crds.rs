//! Our CustomResourceDefinitions, as the API server receives them.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON,
};
use kube::CustomResourceExt;

use crate::{AccessBinding, RedisCluster, ServerlessCache, UserGroup};

pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        RedisCluster::crd(),
        UserGroup::crd(),
        AccessBinding::crd(),
        ServerlessCache::crd(),
    ];
    for crd in &mut crds {
        unobserved_until_reconciled(crd);
    }
    crds
}

/// Default `status.observedGeneration` to 0, which the API server applies whenever it reads an
/// object whose status the operator has not written yet. kstatus (Flux, kpt) and Argo CD then see
/// generation 1 unobserved — in progress — instead of an object without conditions, which kstatus
/// takes for current.
fn unobserved_until_reconciled(crd: &mut CustomResourceDefinition) {
    for version in &mut crd.spec.versions {
        let Some(status) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|root| root.properties.as_mut())
            .and_then(|props| props.get_mut("status"))
        else {
            continue;
        };
        status.default = Some(JSON(serde_json::json!({})));
        if let Some(observed) = status
            .properties
            .as_mut()
            .and_then(|p| p.get_mut("observedGeneration"))
        {
            observed.default = Some(JSON(serde_json::json!(0)));
        }
    }
}
