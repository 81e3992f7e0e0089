//! API discovery: the legacy documents (`APIVersions`, `APIGroupList`, `APIGroup`,
//! `APIResourceList`) and aggregated discovery (`apidiscovery.k8s.io` v2 / v2beta1).

use serde_json::{Value, json};

use crate::registry::{Behaviour, Registry, ResourceDef};

fn subresources(d: &ResourceDef) -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let kind = json!({"group": d.group, "version": d.version, "kind": d.kind});
    let mut out = Vec::new();
    if d.status_subresource {
        out.push(("status", kind.clone(), vec!["get", "patch", "update"]));
    }
    if d.scale.is_some() {
        out.push((
            "scale",
            json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}),
            vec!["get", "patch", "update"],
        ));
    }
    if d.behaviour == Behaviour::Namespace {
        out.push(("finalize", kind, vec!["update"]));
    }
    out
}

/// `APIResourceList` for one group/version.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Value {
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut resources = Vec::new();
    for d in reg.resources(group, version) {
        let mut r = json!({
            "name": d.plural,
            "singularName": d.singular,
            "namespaced": d.namespaced,
            "kind": d.kind,
            "verbs": d.verbs(),
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        for (sub, kind, verbs) in subresources(&d) {
            let mut s = json!({"name": format!("{}/{sub}", d.plural), "singularName": "", "namespaced": d.namespaced,
                               "kind": kind["kind"], "verbs": verbs});
            if sub == "scale" {
                s["group"] = json!("autoscaling");
                s["version"] = json!("v1");
            }
            resources.push(s);
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn group_doc(reg: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = reg
        .versions(group)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

pub fn api_group(reg: &Registry, group: &str) -> Option<Value> {
    if reg.versions(group).is_empty() {
        return None;
    }
    let mut g = group_doc(reg, group);
    g["kind"] = json!("APIGroup");
    g["apiVersion"] = json!("v1");
    Some(g)
}

pub fn api_group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg.api_groups().iter().map(|g| group_doc(reg, g)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn api_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn discovery_group(reg: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = reg
        .versions(group)
        .iter()
        .map(|v| {
            let resources: Vec<Value> = reg
                .resources(group, v)
                .iter()
                .map(|d| {
                    let mut r = json!({
                        "resource": d.plural,
                        "responseKind": {"group": d.group, "version": d.version, "kind": d.kind},
                        "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": d.singular,
                        "verbs": d.verbs(),
                    });
                    if !d.short_names.is_empty() {
                        r["shortNames"] = json!(d.short_names);
                    }
                    if !d.categories.is_empty() {
                        r["categories"] = json!(d.categories);
                    }
                    let subs: Vec<Value> = subresources(d)
                        .into_iter()
                        .map(|(s, k, verbs)| json!({"subresource": s, "responseKind": k, "verbs": verbs}))
                        .collect();
                    if !subs.is_empty() {
                        r["subresources"] = Value::Array(subs);
                    }
                    r
                })
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut md = json!({"creationTimestamp": null});
    if !group.is_empty() {
        md["name"] = json!(group);
    }
    json!({"metadata": md, "versions": versions})
}

/// Aggregated discovery for `/api` (`core = true`) or `/apis`.
pub fn aggregated(reg: &Registry, core: bool, api_version: &str) -> Value {
    let items: Vec<Value> = if core {
        vec![discovery_group(reg, "")]
    } else {
        reg.api_groups()
            .iter()
            .map(|g| discovery_group(reg, g))
            .collect()
    };
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items})
}

/// Which aggregated discovery version an Accept header asks for, if any.
pub fn wants_aggregated(accept: &str) -> Option<&'static str> {
    for part in accept.split(',') {
        let p = part.replace(' ', "");
        if p.contains("g=apidiscovery.k8s.io") && p.contains("as=APIGroupDiscoveryList") {
            if p.contains("v=v2beta1") {
                return Some("v2beta1");
            }
            if p.contains("v=v2") {
                return Some("v2");
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn discovery_documents_list_the_builtins() {
        let reg = Registry::new(crate::builtin::builtin_defs());
        let core = resource_list(&reg, "", "v1");
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"secrets")
                && names.contains(&"namespaces/status")
                && names.contains(&"namespaces/finalize")
        );
        let groups = api_group_list(&reg);
        let gnames: Vec<&str> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            gnames,
            vec![
                "apiextensions.k8s.io",
                "coordination.k8s.io",
                "events.k8s.io"
            ]
        );
        let agg = aggregated(&reg, false, "apidiscovery.k8s.io/v2");
        assert_eq!(
            agg["items"][0]["versions"][0]["resources"][0]["resource"],
            "customresourcedefinitions"
        );
        assert_eq!(
            wants_aggregated(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            Some("v2")
        );
        assert_eq!(wants_aggregated("application/json"), None);
        let _ = Arc::new(reg);
    }
}
