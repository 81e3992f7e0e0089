//! Plan: the pure decisions of the UserGroup controller — which users a group needs, what to
//! do about each, the membership change, the gcp grants per project. No client, no clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cache_operator_api::cluster::AwsEngine;
use cache_operator_api::condition::reason;
use cache_operator_api::model::{AwsUserGroup, DesiredCluster, GcpUserGroup};
use cache_operator_api::user_group::UserAuthentication;
use cache_operator_cloud::aws::users::{ObservedAuth, ObservedUser, UserAuth, UserChange};
use cache_operator_cloud::gcp::grants::Grant;

use crate::controller::shared::{ClusterGuard, parsed};

/// Access string of the stand-in `default` user: disabled, no commands.
pub const STAND_IN_ACCESS: &str = "off -@all";

/// An ElastiCache user's or user group's `Status`, as a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloudStatus {
    Active,
    Deleting,
    /// Creating or modifying: wait.
    Busy,
}

impl CloudStatus {
    pub fn of(status: &str) -> CloudStatus {
        match status {
            "active" => CloudStatus::Active,
            "deleting" => CloudStatus::Deleting,
            _ => CloudStatus::Busy,
        }
    }
}

/// A user the group must contain.
#[derive(Clone, Debug)]
pub struct WantedUser {
    pub user_id: String,
    pub user_name: String,
    pub access_string: String,
    pub kind: UserKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserKind {
    Iam,
    Password,
    /// The disabled `default` user the operator supplies; its random password is never kept.
    StandIn,
}

/// The users of a desired aws group, with the stand-in `default` user when needed.
pub fn wanted_users(g: &AwsUserGroup) -> Vec<WantedUser> {
    let mut out: Vec<WantedUser> = g
        .users
        .iter()
        .map(|u| WantedUser {
            user_id: u.user_id.to_ascii_lowercase(),
            user_name: u.user_name.clone(),
            access_string: u.access_string.clone(),
            kind: match u.authentication {
                UserAuthentication::Iam => UserKind::Iam,
                UserAuthentication::Password => UserKind::Password,
            },
        })
        .collect();
    // ElastiCache requires a user named `default` in a redis group (valkey groups need none).
    if g.engine == AwsEngine::Redis && !g.has_default_user() {
        out.insert(
            0,
            WantedUser {
                user_id: g.default_user_id(),
                user_name: "default".into(),
                access_string: STAND_IN_ACCESS.into(),
                kind: UserKind::StandIn,
            },
        );
    }
    out
}

/// Members to add and to remove so that `have` becomes `want`.
pub fn membership_diff(want: &[String], have: &[String]) -> (Vec<String>, Vec<String>) {
    let have_set: BTreeSet<String> = have.iter().map(|u| u.to_ascii_lowercase()).collect();
    let want_set: BTreeSet<String> = want.iter().map(|u| u.to_ascii_lowercase()).collect();
    (
        want_set.difference(&have_set).cloned().collect(),
        have_set.difference(&want_set).cloned().collect(),
    )
}

/// The gcp grants a group needs: one per gcp cluster that lists it, by project.
pub fn wanted_grants(
    members: &GcpUserGroup,
    clusters: &[Arc<ClusterGuard>],
) -> BTreeMap<String, Vec<Grant>> {
    let mut out: BTreeMap<String, Vec<Grant>> = BTreeMap::new();
    for c in clusters {
        let Some(c) = parsed(c) else { continue };
        if let Ok(DesiredCluster::Gcp(g)) = c.desired() {
            out.entry(g.project.clone()).or_default().push(Grant {
                cluster: g.name(),
                members: members.members.clone(),
            });
        }
    }
    for grants in out.values_mut() {
        grants.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        grants.dedup_by(|a, b| a.cluster == b.cluster);
    }
    out
}

/// What to do about an IAM or stand-in user.
#[derive(Clone, Debug, PartialEq)]
pub enum UserStep {
    Create,
    /// The cloud is working on it.
    Wait(String),
    Modify(UserChange),
    Done,
}

/// A user with our ID but another name was made by someone else: user names cannot change.
pub fn name_conflict(
    u: &WantedUser,
    observed: Option<&ObservedUser>,
) -> Option<(&'static str, String)> {
    let o = observed.filter(|o| o.user_name != u.user_name)?;
    Some((
        reason::ALREADY_EXISTS,
        format!(
            "user {} exists in ElastiCache with userName {:?}, not {:?}; user names cannot change, choose another userId",
            u.user_id, o.user_name, u.user_name
        ),
    ))
}

/// The access string to set, when the cloud has another.
pub fn access_change(u: &WantedUser, observed: Option<&ObservedUser>) -> Option<String> {
    observed
        .filter(|o| o.access_string != u.access_string)
        .map(|_| u.access_string.clone())
}

/// The step for an IAM or stand-in user (password users follow `passwords::step`).
pub fn user_step(u: &WantedUser, observed: Option<&ObservedUser>) -> UserStep {
    let Some(o) = observed else {
        return UserStep::Create;
    };
    if !o.is_active() {
        return UserStep::Wait(format!("user {} is {}", u.user_id, o.status));
    }
    let wrong_auth = u.kind == UserKind::Iam && o.auth != ObservedAuth::Iam;
    let change = UserChange {
        access_string: access_change(u, observed),
        auth: wrong_auth.then_some(UserAuth::Iam),
    };
    if change.is_empty() {
        UserStep::Done
    } else {
        UserStep::Modify(change)
    }
}

/// What to do about a user this group created and no longer lists (it is out of the group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dropped {
    Delete,
    /// Already being deleted: wait.
    Deleting,
    /// Gone: forget it.
    Forget,
}

pub fn dropped(observed: Option<&ObservedUser>) -> Dropped {
    match observed.map(|u| CloudStatus::of(&u.status)) {
        None => Dropped::Forget,
        Some(CloudStatus::Deleting) => Dropped::Deleting,
        Some(_) => Dropped::Delete,
    }
}

pub fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

pub fn humantime(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
