//! Cross-region replication (`spec.crossRegion`): what a member reads of its set from the
//! shared cache (the anchor and the other members, never the cloud), and the pure decisions
//! made from it and from what the cloud reports of this member:
//!
//! - [`read`]: the set's rules that need other objects (the anchor exists, is gcp, same
//!   project, another region, same shard count and node type; at most two secondaries; the
//!   wanted primary is a member), and the primary a new secondary is created under;
//! - [`step`]: the one replication write of this member — a switchover sent by the member to
//!   be promoted (so exactly one member writes), or a detach — decided from the roles the cloud
//!   reports, so a pass after a crash decides the same;
//! - [`switchover`]: the `SwitchingOver` condition every member shows.

use cache_operator_api::cluster::{Phase, RedisCluster};
use cache_operator_api::condition::reason;
use cache_operator_api::cross_region::{CrossRegionStatus, MAX_SECONDARIES, ReplicationRole};
use cache_operator_api::validate::FieldErrors;
use cache_operator_api::{Provider, RedisClusterStatus};
use cache_operator_cloud::provider::{Change, ClusterState, ObservedCluster, ObservedReplication};
use kube::ResourceExt;

/// A member's set, as its pass sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetView {
    /// This object's name.
    pub me: String,
    /// The set's anchor (object name).
    pub anchor: String,
    /// The member that should be primary (object name) and its cloud resource, once known.
    pub wanted: String,
    pub wanted_resource: Option<String>,
    /// This member asked to leave the set.
    pub detached: bool,
}

/// What a member reads of its set.
#[derive(Clone, Debug, PartialEq)]
pub enum SetRead {
    /// No `spec.crossRegion`.
    Alone,
    /// A member; `follow` is the primary (full name) a secondary not created yet is created
    /// under.
    Member {
        view: SetView,
        follow: Option<String>,
    },
    /// Not yet: what is awaited.
    Waiting(String),
    /// A rule of the set is broken (the field and the rule).
    Broken(FieldErrors),
}

/// A member is attached to `anchor` (a secondary not detached nor being deleted).
fn attached_to(c: &RedisCluster, anchor: &str) -> bool {
    c.metadata.deletion_timestamp.is_none()
        && c.spec.cross_region.as_ref().and_then(|cr| cr.attached_to()) == Some(anchor)
}

/// The attached secondaries of `anchor`, oldest first (the order the two places go by).
fn secondaries<'a>(anchor: &str, namespace: &'a [RedisCluster]) -> Vec<&'a RedisCluster> {
    let mut out: Vec<&RedisCluster> = namespace
        .iter()
        .filter(|c| attached_to(c, anchor))
        .collect();
    out.sort_by_key(|c| {
        (
            c.metadata.creation_timestamp.clone().map(|t| t.0),
            c.name_any(),
        )
    });
    out
}

fn broken(field: &str, message: String) -> SetRead {
    let mut errs = FieldErrors::default();
    errs.broken(field, message);
    SetRead::Broken(errs)
}

fn status(c: &RedisCluster) -> RedisClusterStatus {
    c.status.clone().unwrap_or_default()
}

/// What `obj` reads of its set from the other clusters of its namespace (`namespace` may hold
/// `obj` itself).
pub fn read(obj: &RedisCluster, namespace: &[RedisCluster]) -> SetRead {
    let Some(cr) = &obj.spec.cross_region else {
        return SetRead::Alone;
    };
    let me = obj.name_any();
    let ns = obj.namespace().unwrap_or_default();
    let find = |name: &str| namespace.iter().find(|c| c.name_any() == name);
    let created = obj
        .status
        .as_ref()
        .is_some_and(|s| s.cloud_resource.is_some());
    let anchor_name = cr.secondary_of.clone().unwrap_or_else(|| me.clone());
    let anchor = if cr.secondary_of.is_some() {
        find(&anchor_name)
    } else {
        Some(obj)
    };
    let Some(anchor) = anchor else {
        if created || cr.detached {
            // Its anchor is gone: a member already made keeps going on what the cloud says.
            return SetRead::Member {
                view: SetView {
                    me,
                    wanted: anchor_name.clone(),
                    anchor: anchor_name,
                    wanted_resource: None,
                    detached: cr.detached,
                },
                follow: None,
            };
        }
        return SetRead::Waiting(format!(
            "waiting for RedisCluster {ns}/{anchor_name}, the anchor of this cross-region set, to exist"
        ));
    };
    let members: Vec<&RedisCluster> = std::iter::once(anchor)
        .chain(secondaries(&anchor_name, namespace))
        .collect();
    let anchor_cr = anchor.spec.cross_region.clone().unwrap_or_default();
    let wanted = anchor_cr
        .primary
        .clone()
        .unwrap_or_else(|| anchor_name.clone());
    let wanted_member = members.iter().find(|c| c.name_any() == wanted);
    if cr.secondary_of.is_none() && wanted_member.is_none() {
        let names: Vec<String> = members.iter().map(|c| c.name_any()).collect();
        return broken(
            "spec.crossRegion.primary",
            format!(
                "names {wanted}, which is not a member of this set: the primary must be the anchor or one of its attached secondaries ({})",
                names.join(", ")
            ),
        );
    }
    let view = SetView {
        me: me.clone(),
        anchor: anchor_name.clone(),
        wanted_resource: wanted_member.and_then(|c| status(c).cloud_resource),
        wanted,
        detached: cr.detached,
    };
    // Only a secondary leaves a set: the primary first hands over (the service would detach
    // every secondary instead).
    let primary_now = obj
        .status
        .as_ref()
        .and_then(|s| s.cross_region.as_ref())
        .is_some_and(|x| x.role == Some(ReplicationRole::Primary));
    if cr.detached && primary_now {
        return broken(
            "spec.crossRegion.detached",
            format!(
                "{me} is the set's primary and cannot leave it: name another member as primary on the anchor {anchor_name} (crossRegion.primary) first, then detach"
            ),
        );
    }
    if cr.secondary_of.is_none() || created || cr.detached {
        return SetRead::Member { view, follow: None };
    }
    // A secondary still to create: the service's rules, then the primary to follow.
    if let Some(problem) = shape(obj, anchor) {
        return broken("spec.crossRegion.secondaryOf", problem);
    }
    let others = secondaries(&anchor_name, namespace);
    let place = others.iter().position(|c| c.name_any() == me);
    if place.is_none_or(|p| p >= MAX_SECONDARIES) {
        let names: Vec<String> = others
            .iter()
            .take(MAX_SECONDARIES)
            .map(|c| c.name_any())
            .collect();
        return broken(
            "spec.crossRegion.secondaryOf",
            format!(
                "the set anchored on {anchor_name} already has {MAX_SECONDARIES} secondaries ({}): a set has at most {MAX_SECONDARIES} secondaries",
                names.join(", ")
            ),
        );
    }
    let anchor_status = status(anchor);
    // The set's current primary: the one the anchor's cloud reports, else the anchor.
    let primary = anchor_status
        .cross_region
        .as_ref()
        .and_then(|x| x.primary.clone())
        .or(anchor_status.cloud_resource.clone());
    let Some(primary) = primary else {
        return SetRead::Waiting(format!(
            "waiting for the anchor {ns}/{anchor_name} to be created in the cloud before creating this secondary"
        ));
    };
    let primary_member = members
        .iter()
        .find(|c| status(c).cloud_resource.as_deref() == Some(primary.as_str()));
    let active = primary_member.is_some_and(|c| {
        let st = status(c);
        st.cloud_state.as_deref() == Some("ACTIVE") && st.phase == Some(Phase::Ready)
    });
    if !active {
        return SetRead::Waiting(format!(
            "waiting for the set's primary {primary} to be ACTIVE before creating this secondary of it"
        ));
    }
    SetRead::Member {
        view,
        follow: Some(primary),
    }
}

/// What keeps `obj` from being a secondary of `anchor` (the service's rules), if anything.
fn shape(obj: &RedisCluster, anchor: &RedisCluster) -> Option<String> {
    let a = &anchor.spec;
    let s = &obj.spec;
    let name = anchor.name_any();
    if a.provider != Provider::Gcp || a.is_valkey() {
        return Some(format!(
            "names {name}, which is not a Memorystore for Redis Cluster (provider gcp): both members of a set are"
        ));
    }
    let project = |c: &RedisCluster| c.spec.gcp.as_ref().map(|g| g.project.clone());
    if project(anchor) != project(obj) {
        return Some(format!(
            "names {name}, of project {:?}: a secondary is in the project of its primary ({:?})",
            project(anchor).unwrap_or_default(),
            project(obj).unwrap_or_default()
        ));
    }
    if a.region == s.region {
        return Some(format!(
            "names {name}, which is in the same region ({}): a secondary is in another region",
            a.region
        ));
    }
    if a.shard_count != s.shard_count || a.node_type != s.node_type {
        return Some(format!(
            "names {name}, which has {} shards of {}: a secondary has the same shard count and node type as its primary (this spec: {} shards of {})",
            a.shard_count, a.node_type, s.shard_count, s.node_type
        ));
    }
    None
}

/// The replication write of this member, if any: only once the cloud reports it available.
/// A detached secondary detaches; the member the anchor wants as primary, while the cloud
/// reports it SECONDARY, switches over to itself (the other members never write, so one
/// switchover is one write).
pub fn step(view: &SetView, o: &ObservedCluster) -> Option<Change> {
    let rep = o.replication.as_ref()?;
    if o.state != ClusterState::Available || rep.role != ReplicationRole::Secondary {
        return None;
    }
    let since = rep.update_time.clone();
    if view.detached {
        return Some(Change::Detach { since });
    }
    if view.wanted != view.me {
        return None;
    }
    // The old primary first, then every other secondary.
    let secondaries = rep
        .primary
        .iter()
        .chain(rep.secondaries.iter())
        .filter(|s| **s != o.resource)
        .cloned()
        .collect();
    Some(Change::Switchover { secondaries, since })
}

/// `status.crossRegion` from what the cloud reports of this member.
pub fn status_of(
    view: Option<&SetView>,
    rep: Option<&ObservedReplication>,
) -> Option<CrossRegionStatus> {
    if view.is_none() && rep.is_none() {
        return None;
    }
    Some(CrossRegionStatus {
        role: rep.map(|r| r.role),
        anchor: view.filter(|v| !v.detached).map(|v| v.anchor.clone()),
        wanted_primary: view.filter(|v| !v.detached).map(|v| v.wanted.clone()),
        primary: rep.and_then(|r| r.primary.clone()),
        secondaries: rep.map(|r| r.secondaries.clone()).unwrap_or_default(),
    })
}

/// The `SwitchingOver` condition: `(status, reason, message)`; `None` when there is nothing to
/// say (not in a set, or the wanted primary not created yet).
pub fn switchover(
    view: &SetView,
    rep: Option<&ObservedReplication>,
) -> Option<(&'static str, &'static str, String)> {
    if view.detached {
        return None;
    }
    let wanted = view.wanted_resource.as_deref()?;
    let primary = rep?.primary.as_deref()?;
    if primary == wanted {
        Some((
            "False",
            reason::PRIMARY_IN_PLACE,
            format!(
                "{} ({wanted}) is the primary, as the anchor {} asks",
                view.wanted, view.anchor
            ),
        ))
    } else {
        Some((
            "True",
            reason::SWITCHOVER_IN_PROGRESS,
            format!(
                "switching over to {} ({wanted}) from {primary}",
                view.wanted
            ),
        ))
    }
}

#[cfg(test)]
#[path = "cross_region_tests.rs"]
mod tests;
