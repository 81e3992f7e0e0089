//! Fixtures shared by the workspace's tests: builders of `RedisCluster`, `UserGroup` and
//! `AccessBinding` manifests, and a fixed clock.
//!
//! A builder starts from the smallest valid object of its kind and each method sets one field,
//! so a test says only what matters to it:
//!
//! ```
//! use cache_operator_testkit::cluster;
//! let m = cluster::aws("sessions").shards(2).auth("password").user_groups(&["users"]);
//! assert_eq!(m.json()["spec"]["shardCount"], 2);
//! ```
//!
//! Manifests are JSON (what `kubectl apply` and the API server see); `parse` turns one into the
//! typed object a unit test holds.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub const API_VERSION: &str = "cache-operator.io/v1alpha1";

/// A manifest being built.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest(Value);

impl Manifest {
    /// `apiVersion`, `kind` and `metadata.name` of one of our kinds.
    pub fn new(kind: &str, name: &str) -> Self {
        Manifest(json!({"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}}))
    }

    pub fn json(&self) -> Value {
        self.0.clone()
    }

    pub fn into_json(self) -> Value {
        self.0
    }

    /// The typed object (`RedisCluster`, …); panics when the manifest does not parse as one.
    pub fn parse<T: DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.0.clone()).unwrap_or_else(|e| {
            panic!(
                "fixture does not parse as {}: {e}\n{:#}",
                std::any::type_name::<T>(),
                self.0
            )
        })
    }

    /// Set the value at a JSON pointer, creating objects on the way.
    pub fn set(self, pointer: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).expect("a fixture value serializes");
        Manifest(with(self.0, pointer, Some(value)))
    }

    /// Remove the value at a JSON pointer.
    pub fn unset(self, pointer: &str) -> Self {
        Manifest(with(self.0, pointer, None))
    }

    // ---- metadata ----

    pub fn namespace(self, ns: &str) -> Self {
        self.set("/metadata/namespace", ns)
    }

    pub fn uid(self, uid: &str) -> Self {
        self.set("/metadata/uid", uid)
    }

    pub fn generation(self, generation: i64) -> Self {
        self.set("/metadata/generation", generation)
    }

    /// Add a finalizer to `metadata.finalizers`.
    pub fn finalizer(self, name: &str) -> Self {
        let mut list = self.0["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        list.push(json!(name));
        self.set("/metadata/finalizers", list)
    }

    /// Marked for deletion.
    pub fn deleting(self) -> Self {
        self.set("/metadata/deletionTimestamp", "2023-11-14T22:13:20Z")
    }

    pub fn status(self, status: Value) -> Self {
        self.set("/status", status)
    }

    /// Set `spec.<field>` (camelCase).
    pub fn spec(self, field: &str, value: impl Serialize) -> Self {
        self.set(&format!("/spec/{field}"), value)
    }

    // ---- RedisCluster ----

    pub fn instance_id(self, id: &str) -> Self {
        self.spec("instanceId", id)
    }

    pub fn region(self, region: &str) -> Self {
        self.spec("region", region)
    }

    pub fn node_type(self, node_type: &str) -> Self {
        self.spec("nodeType", node_type)
    }

    pub fn shards(self, n: i64) -> Self {
        self.spec("shardCount", n)
    }

    pub fn replicas(self, n: i64) -> Self {
        self.spec("replicasPerShard", n)
    }

    /// `iam`, `password` or `disabled`.
    pub fn auth(self, mode: &str) -> Self {
        self.spec("authMode", mode)
    }

    pub fn tls(self, on: bool) -> Self {
        self.spec("transitEncryption", on)
    }

    /// gcp: the project and its `default` network.
    pub fn project(self, project: &str) -> Self {
        self.set("/spec/gcp/project", project).set(
            "/spec/gcp/network",
            format!("projects/{project}/global/networks/default"),
        )
    }

    /// aws: `redis` or `valkey`.
    pub fn engine(self, engine: &str) -> Self {
        self.set("/spec/aws/engine", engine)
    }

    pub fn engine_version(self, version: &str) -> Self {
        self.set("/spec/aws/engineVersion", version)
    }

    /// aws: `enabled` or `disabled`.
    pub fn cluster_mode(self, mode: &str) -> Self {
        self.set("/spec/aws/clusterMode", mode)
    }

    /// `spec.userGroupRefs`, even when empty.
    pub fn user_groups(self, names: &[&str]) -> Self {
        let refs: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
        self.spec("userGroupRefs", refs)
    }

    /// `spec.crossRegion.primary`: on a set's anchor, the member that should be primary.
    pub fn cross_region_primary(self, member: &str) -> Self {
        self.set("/spec/crossRegion/primary", member)
    }

    /// `spec.crossRegion.secondaryOf`: a secondary of the set anchored on `anchor`.
    pub fn secondary_of(self, anchor: &str) -> Self {
        self.set("/spec/crossRegion/secondaryOf", anchor)
    }

    /// `spec.crossRegion.detached`.
    pub fn detached(self, on: bool) -> Self {
        self.set("/spec/crossRegion/detached", on)
    }

    pub fn adopt(self, on: bool) -> Self {
        self.spec("adopt", on)
    }

    /// `Delete` or `Retain`.
    pub fn deletion_policy(self, policy: &str) -> Self {
        self.spec("deletionPolicy", policy)
    }

    pub fn deletion_protection(self, on: bool) -> Self {
        self.spec("deletionProtection", on)
    }

    // ---- UserGroup ----

    /// aws: a user (`authentication` `password` or `iam`) with userName = userId and full access.
    pub fn user(self, user_id: &str, authentication: &str) -> Self {
        self.user_named(user_id, user_id, "on ~* +@all", authentication)
    }

    /// aws: a user with every field given.
    pub fn user_named(
        self,
        user_id: &str,
        user_name: &str,
        access_string: &str,
        authentication: &str,
    ) -> Self {
        let mut users = self.0["spec"]["aws"]["users"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        users.push(json!({"userId": user_id, "userName": user_name,
                          "accessString": access_string, "authentication": authentication}));
        self.set("/spec/aws/users", users)
    }

    pub fn user_group_id(self, id: &str) -> Self {
        self.set("/spec/aws/userGroupId", id)
    }

    // ---- AccessBinding ----

    pub fn cluster_ref(self, name: &str) -> Self {
        self.set("/spec/clusterRef/name", name)
    }

    pub fn cluster_namespace(self, ns: &str) -> Self {
        self.set("/spec/clusterRef/namespace", ns)
    }

    pub fn group_namespace(self, ns: &str) -> Self {
        self.set("/spec/userGroupRef/namespace", ns)
    }

    /// The binding's user: a service account (gcp) or a userId (aws).
    pub fn binding_user(self, user: &str) -> Self {
        self.spec("user", user)
    }

    pub fn secret_name(self, name: &str) -> Self {
        self.spec("secretName", name)
    }
}

/// RedisCluster manifests.
pub mod cluster {
    use super::*;

    /// A small gcp cluster in project `shop-prod`, `us-central1`.
    pub fn gcp(name: &str) -> Manifest {
        Manifest::new("RedisCluster", name)
            .spec("provider", "gcp")
            .region("us-central1")
            .node_type("redis-shared-core-nano")
            .shards(1)
            .project("shop-prod")
    }

    /// A small Memorystore for Valkey instance in `us-central1` (`gcp.engine: valkey`).
    pub fn valkey(name: &str) -> Manifest {
        Manifest::new("RedisCluster", name)
            .spec("provider", "gcp")
            .region("us-central1")
            .node_type("shared-core-nano")
            .shards(1)
            .project("shop-prod")
            .set("/spec/gcp/engine", "valkey")
    }

    /// A small aws cluster in `us-east-1`.
    pub fn aws(name: &str) -> Manifest {
        Manifest::new("RedisCluster", name)
            .spec("provider", "aws")
            .region("us-east-1")
            .node_type("cache.t4g.micro")
            .shards(1)
            .spec("aws", json!({}))
    }
}

/// UserGroup manifests.
pub mod group {
    use super::*;

    /// A gcp group of these principals (`serviceAccount:…`, `user:…`).
    pub fn gcp(name: &str, members: &[&str]) -> Manifest {
        Manifest::new("UserGroup", name)
            .spec("provider", "gcp")
            .set("/spec/gcp/members", members)
    }

    /// An aws redis group in `region` without users (add them with `user`).
    pub fn aws(name: &str, region: &str) -> Manifest {
        Manifest::new("UserGroup", name)
            .spec("provider", "aws")
            .region(region)
            .set("/spec/aws/engine", "redis")
            .set("/spec/aws/users", Vec::<Value>::new())
    }
}

/// AccessBinding manifests.
pub mod binding {
    use super::*;

    /// A binding of `cluster` through `group`, both in the binding's namespace.
    pub fn new(name: &str, cluster: &str, group: &str) -> Manifest {
        Manifest::new("AccessBinding", name)
            .cluster_ref(cluster)
            .set("/spec/userGroupRef/name", group)
    }

    /// A binding of `cluster` that names no group: a cluster with authMode token (its one
    /// AUTH token) or disabled.
    pub fn without_group(name: &str, cluster: &str) -> Manifest {
        Manifest::new("AccessBinding", name).cluster_ref(cluster)
    }
}

/// ServerlessCache manifests.
pub mod serverless {
    use super::*;

    /// A valkey serverless cache in `region`, without a user group.
    pub fn new(name: &str, region: &str) -> Manifest {
        Manifest::new("ServerlessCache", name)
            .region(region)
            .spec("engine", "valkey")
    }

    /// A binding of the serverless cache `cache` through `group` (both in the binding's
    /// namespace).
    pub fn binding(name: &str, cache: &str, group: &str) -> Manifest {
        Manifest::new("AccessBinding", name)
            .set("/spec/serverlessCacheRef/name", cache)
            .set("/spec/userGroupRef/name", group)
    }

    /// A binding of a serverless cache without a user group.
    pub fn open_binding(name: &str, cache: &str) -> Manifest {
        Manifest::new("AccessBinding", name).set("/spec/serverlessCacheRef/name", cache)
    }
}

/// `secs` after 2023-11-14T22:13:20Z: a fixed clock for tests of time-based decisions.
pub fn at(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_700_000_000 + secs).expect("a timestamp in range")
}

/// Set (or with `None` remove) the value at a JSON pointer, creating objects on the way.
pub fn with(mut obj: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let mut cur = &mut obj;
    for part in parent.split('/').skip(1) {
        cur = if let Ok(i) = part.parse::<usize>() {
            &mut cur[i]
        } else {
            cur.as_object_mut()
                .expect("an object on the pointer's way")
                .entry(part)
                .or_insert_with(|| json!({}))
        };
    }
    match value {
        Some(v) => {
            if let Ok(i) = key.parse::<usize>() {
                cur[i] = v;
            } else {
                cur[key] = v;
            }
        }
        None => {
            if let Some(map) = cur.as_object_mut() {
                map.remove(key);
            }
        }
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_set_one_field_each_and_keep_the_rest() {
        let m = cluster::gcp("orders").instance_id("orders-cache").shards(3);
        let v = m.json();
        assert_eq!(v["spec"]["shardCount"], 3);
        assert_eq!(v["spec"]["instanceId"], "orders-cache");
        assert_eq!(
            v["spec"]["gcp"]["network"],
            "projects/shop-prod/global/networks/default"
        );
        let v = cluster::aws("s").user_groups(&[]).json();
        assert_eq!(v["spec"]["userGroupRefs"], json!([]));
        let v = group::aws("g", "eu-west-1")
            .user("app", "password")
            .user("iam", "iam")
            .json();
        assert_eq!(v["spec"]["aws"]["users"][1]["authentication"], "iam");
        let v = binding::new("b", "c", "g").binding_user("u").json();
        assert_eq!(v["spec"]["userGroupRef"]["name"], "g");
        let v = cluster::aws("s")
            .finalizer("x")
            .finalizer("y")
            .unset("/spec/aws")
            .json();
        assert_eq!(v["metadata"]["finalizers"], json!(["x", "y"]));
        assert!(v["spec"].get("aws").is_none());
    }

    #[test]
    fn the_clock_is_fixed() {
        assert_eq!(at(0).to_string(), "2023-11-14T22:13:20Z");
        assert_eq!(at(60).as_second() - at(0).as_second(), 60);
    }
}
