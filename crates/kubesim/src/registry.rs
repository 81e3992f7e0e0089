//! The resource registry: which group/version/resources are served, how they are stored,
//! and what schema and behaviour each has. Built-ins are fixed; custom resources come and go
//! with their CustomResourceDefinitions.

use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::schema::Schema;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// Kind-specific server behaviour (the "strategy" of the real registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Namespace,
    Secret,
    ConfigMap,
    ServiceAccount,
    /// core/v1 Event (the storage form of both Event APIs).
    CoreEvent,
    /// events.k8s.io/v1 Event, converted to and from the core form.
    EventsV1Event,
    Lease,
    Crd,
    Custom,
}

impl Behaviour {
    pub fn is_builtin(self) -> bool {
        self != Behaviour::Custom
    }
    /// Whether `metadata.generation` is maintained.
    pub fn tracks_generation(self) -> bool {
        matches!(self, Behaviour::Custom | Behaviour::Crd)
    }
}

/// A CRD `additionalPrinterColumns` entry.
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub ty: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

#[derive(Debug, Clone)]
pub struct ScaleSubresource {
    pub spec_replicas_path: String,
    pub status_replicas_path: String,
    pub label_selector_path: Option<String>,
}

/// One served group/version/resource.
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Where the objects live in the store (shared by all versions of a resource).
    pub storage: GroupResource,
    /// The apiVersion objects are stored in.
    pub storage_api_version: String,
    pub behaviour: Behaviour,
    pub status_subresource: bool,
    pub scale: Option<ScaleSubresource>,
    /// Validation schema (CRs: the CRD's schema; built-ins: typing only).
    pub schema: Arc<Schema>,
    /// The schema used to type server-side apply (metadata typed as ObjectMeta).
    pub ssa_schema: Arc<Schema>,
    pub cel: Option<Arc<kube_cel::CompiledSchema>>,
    /// `(rule, fieldPath)` of CEL rules that set a fieldPath (to name the rule's own node type).
    pub cel_field_paths: Vec<(String, String)>,
    /// Each CEL rule's message (or the rule itself), as evaluation errors quote it.
    pub cel_messages: Vec<(String, String)>,
    pub printer_columns: Vec<PrinterColumn>,
    /// CRD `selectableFields` JSON paths (without the leading dot).
    pub selectable_fields: Vec<String>,
    /// The OpenAPI schema published for this kind (refs point to `#/components/schemas/`).
    pub openapi: Value,
    /// The name of the CRD that defines this resource.
    pub crd_name: Option<String>,
}

impl fmt::Debug for ResourceDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ResourceDef({}/{} {})",
            self.group, self.version, self.plural
        )
    }
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    pub fn gr(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }
    pub fn verbs(&self) -> Vec<&'static str> {
        let mut v = vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        if self.behaviour == Behaviour::Namespace {
            v.retain(|x| *x != "deletecollection");
        }
        v
    }
    /// The OpenAPI definition name (`io.k8s.api.core.v1.Secret`, `com.example.cache.v1alpha1.RedisCluster`).
    pub fn definition_name(&self) -> String {
        match self.behaviour {
            Behaviour::Custom => {
                let reversed: Vec<&str> = self.group.split('.').rev().collect();
                format!("{}.{}.{}", reversed.join("."), self.version, self.kind)
            }
            _ => crate::builtin::definition_name(self),
        }
    }
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first, then others alphabetically.
pub fn version_priority(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u32, u32, u32)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let major: u32 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        for (stage, rank) in [("beta", 2), ("alpha", 1)] {
            if let Some(n) = tail.strip_prefix(stage) {
                return Some((rank, major, n.parse().ok()?));
            }
        }
        None
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// An immutable snapshot of everything served; replaced wholesale when CRDs change.
#[derive(Default)]
pub struct Registry {
    by_gvr: HashMap<(String, String, String), Arc<ResourceDef>>,
    /// group -> version -> resources, in discovery order.
    groups: BTreeMap<String, BTreeMap<String, Vec<Arc<ResourceDef>>>>,
    /// Groups in the order the server lists them (core first, built-ins, then CRD groups).
    group_order: Vec<String>,
}

impl Registry {
    pub fn new(defs: Vec<Arc<ResourceDef>>) -> Registry {
        let mut r = Registry::default();
        for d in defs {
            if !r.group_order.contains(&d.group) {
                r.group_order.push(d.group.clone());
            }
            r.groups
                .entry(d.group.clone())
                .or_default()
                .entry(d.version.clone())
                .or_default()
                .push(d.clone());
            r.by_gvr
                .insert((d.group.clone(), d.version.clone(), d.plural.clone()), d);
        }
        r
    }

    pub fn get(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceDef>> {
        self.by_gvr
            .get(&(group.to_string(), version.to_string(), resource.to_string()))
            .cloned()
    }

    /// Groups other than core, in server order.
    pub fn api_groups(&self) -> Vec<String> {
        self.group_order
            .iter()
            .filter(|g| !g.is_empty())
            .cloned()
            .collect()
    }

    /// Versions of a group, highest priority first.
    pub fn versions(&self, group: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .groups
            .get(group)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| version_priority(a, b));
        v
    }

    pub fn resources(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.groups
            .get(group)
            .and_then(|m| m.get(version))
            .cloned()
            .unwrap_or_default()
    }

    pub fn has_group_version(&self, group: &str, version: &str) -> bool {
        self.groups
            .get(group)
            .is_some_and(|m| m.contains_key(version))
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.by_gvr.values()
    }

    /// One definition per storage location (the preferred version), for controllers that
    /// sweep every resource (namespace deletion, garbage collection).
    pub fn storage_defs(&self) -> Vec<Arc<ResourceDef>> {
        let mut seen: BTreeMap<GroupResource, Arc<ResourceDef>> = BTreeMap::new();
        for g in &self.group_order {
            for v in self.versions(g) {
                for d in self.resources(g, &v) {
                    seen.entry(d.storage.clone()).or_insert(d);
                }
            }
        }
        seen.into_values().collect()
    }

    /// The preferred definition for objects stored under `storage`.
    pub fn for_storage(&self, storage: &GroupResource) -> Option<Arc<ResourceDef>> {
        self.storage_defs()
            .into_iter()
            .find(|d| &d.storage == storage)
    }

    /// Finds a resource by apiVersion and kind (used to resolve owner references).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.resources(group, version)
            .into_iter()
            .find(|d| d.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut v = vec![
            "v1alpha1",
            "v2",
            "v1beta1",
            "foo",
            "v1",
            "v1beta2",
            "v10alpha3",
        ];
        v.sort_by(|a, b| version_priority(a, b));
        assert_eq!(
            v,
            vec![
                "v2",
                "v1",
                "v1beta2",
                "v1beta1",
                "v10alpha3",
                "v1alpha1",
                "foo"
            ]
        );
    }
}
