//! Plan: what a UserGroup's pass does, from its spec and what was observed — pure, no client,
//! no clock but `now`.
//!
//! - aws ([`aws`]): the users it needs (created when absent, never duplicated; a redis group
//!   gets a disabled stand-in `default` user), each brought to the spec, password users a step
//!   along the rotation ([`rotation`]); then the ElastiCache user group (created once every user
//!   exists, membership by difference) and the deletion of users it no longer lists. The writes
//!   come in the order they must be made; the users about to be created and the password
//!   records are saved before the cloud calls that depend on them.
//! - gcp ([`gcp`]): one set of conditional grants per project of the clusters that list it.
//! - deletion ([`leave`]): the user group once no cluster uses it, then its users, then the
//!   password Secret (aws); every grant (gcp).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cache_operator_api::Provider;
use cache_operator_api::condition::{Summary, event, reason};
use cache_operator_api::model::{
    AwsEngine, AwsUserGroup, DesiredUserGroup, GcpUserGroup, UserAuthentication,
};
use cache_operator_api::user_group::UserGroupStatus;
use cache_operator_api::validate::FieldErrors;
use cache_operator_cloud::CloudError;
use cache_operator_cloud::aws::users::{
    NewUser, ObservedAuth, ObservedUser, ObservedUserGroup, Password, UserAuth, UserChange,
};
use cache_operator_cloud::gcp::grants::{Grant, valkey_accepts};
use jiff::Timestamp;

use super::observe::{AwsSeen, Leaving, Observed};
use super::passwords::PasswordEntry;
use crate::controller::ending::{Next, Outcome};
use crate::controller::refs::Listing;
use crate::controller::rotation::{self, Cloud, Holds, Send, Slots, Timing};

/// Access string of the stand-in `default` user: disabled, no commands.
pub const STAND_IN_ACCESS: &str = "off -@all";

/// What a pass over a group does.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Nothing to write: end as the outcome says (an invalid spec, a cloud that could not be
    /// read).
    Stop(Stopping),
    Aws(Box<AwsPlan>),
    Gcp(GcpPlan),
}

/// A pass that writes nothing.
#[derive(Clone, Debug)]
pub enum Stopping {
    Outcome(Outcome),
    /// The cloud could not be read; the clusters that list the group are said all the same.
    Unreadable(CloudError, Clusters),
}

/// What the status says of the clusters that list the group: a few names and the count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Clusters {
    pub names: Vec<String>,
    pub count: usize,
}

impl Clusters {
    fn on(listing: &[Listing], provider: Provider) -> Clusters {
        let names: Vec<String> = listing
            .iter()
            .filter(|c| c.provider == provider)
            .map(|c| c.name.clone())
            .collect();
        Clusters {
            count: names.len(),
            names,
        }
    }
}

/// The aws writes of a pass, in order, and how it ends when every one is made.
#[derive(Clone, Debug)]
pub struct AwsPlan {
    pub region: String,
    pub group_id: String,
    pub clusters: Clusters,
    /// The users the group made, as the status records them before any of them is created
    /// (so that a crash right after never leaves a user this group made but does not know).
    pub users: Vec<String>,
    /// The password records as they are to be before the cloud calls (a rotation's steps are
    /// recorded first), and whether they differ from the Secret (which is then written first).
    pub records: BTreeMap<String, PasswordEntry>,
    pub save_records: bool,
    pub writes: Vec<Write>,
    /// The user group as the cloud describes it, for the status.
    pub group: Option<ObservedUserGroup>,
    /// Events of steps that wrote only the records (a new password given to clients).
    pub notes: Vec<Note>,
    /// How the pass ends once every write is made.
    pub outcome: Outcome,
}

/// An event: reason, action and note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub reason: &'static str,
    pub action: &'static str,
    pub text: String,
}

fn note(reason: &'static str, action: &'static str, text: String) -> Note {
    Note {
        reason,
        action,
        text,
    }
}

/// One aws write. Each says what it records once made and what it tells.
#[derive(Clone, Debug)]
pub enum Write {
    /// Create a user; `record` is its first password's record, kept once it exists.
    CreateUser {
        user: NewUser,
        record: Option<PasswordEntry>,
    },
    /// Change a user; `record` as for a create (an existing user given a password).
    ModifyUser {
        user_id: String,
        change: UserChange,
        record: Option<PasswordEntry>,
    },
    CreateGroup {
        engine: AwsEngine,
        user_ids: Vec<String>,
        tags: Vec<(String, String)>,
    },
    ModifyGroup {
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// Delete a user this group made and no longer lists (or forget one that is gone).
    DeleteUser { user_id: String, gone: bool },
}

impl Write {
    /// What the event says once the write is made, if anything.
    pub fn note(&self, plan: &AwsPlan) -> Option<Note> {
        match self {
            Write::CreateUser { user, .. } => Some(note(
                event::USER_CREATED,
                "Create",
                format!("created user {} ({})", user.user_id, user.user_name),
            )),
            Write::CreateGroup { user_ids, .. } => Some(note(
                reason::CREATING,
                "Create",
                format!(
                    "creating user group {} with users {}",
                    plan.group_id,
                    user_ids.join(", ")
                ),
            )),
            Write::ModifyGroup { add, remove } => Some(note(
                reason::UPDATING,
                "Update",
                membership_note(&plan.group_id, add, remove),
            )),
            Write::DeleteUser {
                user_id,
                gone: false,
            } => Some(note(
                event::USER_DELETED,
                "Update",
                format!("deleted user {user_id}, no longer listed in the group"),
            )),
            Write::ModifyUser { .. } | Write::DeleteUser { gone: true, .. } => None,
        }
    }
}

fn membership_note(group_id: &str, add: &[String], remove: &[String]) -> String {
    format!(
        "user group {group_id}: adding [{}], removing [{}]",
        add.join(", "),
        remove.join(", ")
    )
}

/// The gcp grants of a pass, project by project.
#[derive(Clone, Debug)]
pub struct GcpPlan {
    pub clusters: Clusters,
    /// Every project to write: those with clusters listing the group and those granted before
    /// (whose grants may have to go), with the grants each should hold.
    pub projects: Vec<(String, Vec<Grant>)>,
    /// The group's distinct members.
    pub members: usize,
    /// The gcp clusters covered.
    pub covered: usize,
    /// What the status's `granted` says once every project is written.
    pub digest: String,
}

/// Everything a plan needs besides the observation.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    pub status: &'a UserGroupStatus,
    pub now: Timestamp,
    /// How long an old password keeps working after a rotation.
    pub overlap: Duration,
}

/// The plan of a pass over a group whose spec is `desired` (or breaks a rule).
pub fn plan(
    desired: &Result<DesiredUserGroup, FieldErrors>,
    seen: &Observed,
    facts: Facts<'_>,
) -> Plan {
    match (desired, &seen.aws) {
        (Err(errors), _) => Plan::Stop(Stopping::Outcome(Outcome::new(
            (),
            Summary::Stalled {
                reason: reason::INVALID_SPEC.into(),
                message: errors.to_string(),
            },
            Next::AwaitChange,
        ))),
        (Ok(DesiredUserGroup::Gcp(g)), _) => match unsupported_principals(g, &seen.clusters) {
            Some(message) => Plan::Stop(Stopping::Outcome(Outcome::new(
                (),
                Summary::Stalled {
                    reason: reason::UNSUPPORTED_PRINCIPAL.into(),
                    message,
                },
                Next::AwaitChange,
            ))),
            None => Plan::Gcp(gcp(g, seen, facts.status)),
        },
        (Ok(DesiredUserGroup::Aws(g)), Some(Ok(aws_seen))) => {
            Plan::Aws(Box::new(aws(g, aws_seen, seen, facts)))
        }
        (Ok(DesiredUserGroup::Aws(_)), Some(Err(e))) => Plan::Stop(Stopping::Unreadable(
            e.clone(),
            Clusters::on(&seen.clusters, Provider::Aws),
        )),
        // Observed for another cloud than the spec's: nothing to go on yet.
        (Ok(DesiredUserGroup::Aws(_)), None) => Plan::Stop(Stopping::Outcome(Outcome::new(
            (),
            Summary::Progressing {
                reason: reason::PENDING.into(),
                message: String::new(),
            },
            Next::Soon,
        ))),
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

/// Where the users stand after their steps: the writes, and what is still under way.
#[derive(Default)]
struct Users {
    writes: Vec<Write>,
    notes: Vec<Note>,
    /// Not yet as the spec says.
    busy: Vec<String>,
    /// As the spec says, with a password rotation under way.
    rotating: Vec<String>,
    /// The earliest a password step is due.
    due: Option<Timestamp>,
    /// A user the group cannot take (a name taken under its ID).
    conflict: Option<String>,
}

impl Users {
    fn due(&mut self, at: Timestamp) {
        self.due = Some(self.due.map_or(at, |t| t.min(at)));
    }
}

/// The aws plan.
fn aws(g: &AwsUserGroup, seen: &AwsSeen, observed: &Observed, facts: Facts<'_>) -> AwsPlan {
    let to = Making {
        group: g,
        tags: &observed.tags,
        now: facts.now,
    };
    let wanted = wanted_users(g);
    let clusters = Clusters::on(&observed.clusters, Provider::Aws);
    // Only password users have records.
    let stored = seen.records.clone().unwrap_or_default();
    let mut records: BTreeMap<String, PasswordEntry> = stored
        .iter()
        .filter(|(id, _)| {
            wanted
                .iter()
                .any(|u| u.kind == UserKind::Password && u.user_id == **id)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // The users about to be created are recorded first.
    let mut users = facts.status.users.clone();
    for u in &wanted {
        if !seen.users.contains_key(&u.user_id) && !users.contains(&u.user_id) {
            users.push(u.user_id.clone());
        }
    }
    users.sort();

    let mut fresh = seen.fresh.iter().cloned();
    let mut new_password = || fresh.next().unwrap_or_default();
    let mut steps = Users::default();
    for u in &wanted {
        let observed = seen.users.get(&u.user_id);
        if let Some(msg) = name_conflict(u, observed) {
            steps.conflict = Some(msg);
            break;
        }
        match u.kind {
            UserKind::Password => {
                let interval = seen.intervals.get(&u.user_id).copied().unwrap_or_default();
                password_user(
                    &to,
                    u,
                    observed,
                    &mut records,
                    Timing {
                        interval,
                        overlap: facts.overlap,
                    },
                    new_password(),
                    &mut steps,
                );
            }
            UserKind::Iam | UserKind::StandIn => match user_step(u, observed) {
                UserStep::Create => {
                    let auth = if u.kind == UserKind::Iam {
                        UserAuth::Iam
                    } else {
                        // Never stored or shown: nobody is meant to log in as the stand-in.
                        UserAuth::Passwords(vec![Password::new(new_password())])
                    };
                    steps.writes.push(Write::CreateUser {
                        user: to.user(u, auth),
                        record: None,
                    });
                }
                UserStep::Wait(why) => steps.busy.push(why),
                UserStep::Done => {}
                UserStep::Modify(change) => {
                    steps.writes.push(Write::ModifyUser {
                        user_id: u.user_id.clone(),
                        change,
                        record: None,
                    });
                    steps.busy.push(format!("updating user {}", u.user_id));
                }
            },
        }
    }
    let records_changed = records != stored || (seen.records.is_none() && !records.is_empty());
    let mut plan = AwsPlan {
        region: g.region.clone(),
        group_id: g.user_group_id.clone(),
        clusters,
        users,
        records,
        save_records: records_changed,
        writes: steps.writes,
        group: seen.group.clone(),
        notes: steps.notes,
        outcome: Outcome::new((), Summary::ready(reason::AVAILABLE, ""), Next::Resync),
    };
    if let Some(msg) = steps.conflict {
        plan.outcome = Outcome::new(
            (),
            Summary::Stalled {
                reason: reason::ALREADY_EXISTS.into(),
                message: msg,
            },
            Next::Resync,
        );
        return plan;
    }

    // The group itself, once every user exists.
    let want_ids: Vec<String> = wanted.iter().map(|u| u.user_id.clone()).collect();
    let absent = wanted.iter().any(|u| !seen.users.contains_key(&u.user_id));
    let busy =
        |why: String| Outcome::new((), Summary::progressing(reason::UPDATING, why), Next::Soon);
    let Some(group) = &seen.group else {
        if absent && !steps.busy.is_empty() {
            // Progressing: an update when the group had an ID before (it vanished since).
            plan.outcome = match facts.status.user_group_id {
                Some(_) => busy(steps.busy.join("; ")),
                None => Outcome::new(
                    (),
                    Summary::progressing(reason::CREATING, steps.busy.join("; ")),
                    Next::Soon,
                ),
            };
            return plan;
        }
        plan.writes.push(Write::CreateGroup {
            engine: g.engine,
            user_ids: want_ids,
            tags: observed.tags.clone(),
        });
        // The group's ID is known as soon as it is created: its creation reads as an update.
        plan.outcome = busy(format!(
            "creating user group {} in {}",
            g.user_group_id, g.region
        ));
        return plan;
    };
    if CloudStatus::of(&group.status) != CloudStatus::Active {
        plan.outcome = busy(format!(
            "user group {} is {}",
            group.user_group_id, group.status
        ));
        return plan;
    }
    let (add, remove) = membership_diff(&want_ids, &group.user_ids);
    if !add.is_empty() || !remove.is_empty() {
        if add.iter().any(|id| !seen.users.contains_key(id)) && !steps.busy.is_empty() {
            plan.outcome = busy(steps.busy.join("; "));
            return plan;
        }
        plan.outcome = busy(membership_note(&g.user_group_id, &add, &remove));
        plan.writes.push(Write::ModifyGroup { add, remove });
        return plan;
    }

    // Users this group created and no longer lists: out of the group now, so delete them.
    let mut busy_users = steps.busy;
    for id in plan.users.clone() {
        if want_ids.contains(&id) {
            continue;
        }
        match dropped(seen.users.get(&id)) {
            Dropped::Deleting => busy_users.push(format!("user {id} is being deleted")),
            Dropped::Delete => plan.writes.push(Write::DeleteUser {
                user_id: id,
                gone: false,
            }),
            Dropped::Forget => plan.writes.push(Write::DeleteUser {
                user_id: id,
                gone: true,
            }),
        }
    }
    if !busy_users.is_empty() {
        plan.outcome = busy(busy_users.join("; "));
        return plan;
    }
    let listed = if plan.clusters.names.is_empty() {
        String::new()
    } else {
        let more = match plan
            .clusters
            .count
            .saturating_sub(plan.clusters.names.len())
        {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        format!("; listed by {}{more}", plan.clusters.names.join(", "))
    };
    let message = format!(
        "user group {} is active with {} user(s){listed}",
        g.user_group_id,
        want_ids.len(),
    );
    // A rotation under way is routine: it keeps the group Ready, and is looked at soon.
    let next = match (steps.rotating.is_empty(), steps.due) {
        (false, _) => Next::Soon,
        (true, Some(due)) => Next::ResyncBy(due),
        (true, None) => Next::Resync,
    };
    plan.outcome = Outcome::new((), Summary::ready(reason::AVAILABLE, message), next);
    plan
}

/// What the users of a group are made with.
struct Making<'a> {
    group: &'a AwsUserGroup,
    tags: &'a [(String, String)],
    now: Timestamp,
}

impl Making<'_> {
    fn user(&self, u: &WantedUser, auth: UserAuth) -> NewUser {
        NewUser {
            user_id: u.user_id.clone(),
            user_name: u.user_name.clone(),
            engine: self.group.engine,
            access_string: u.access_string.clone(),
            auth,
            tags: self.tags.to_vec(),
        }
    }
}

fn passwords(ps: Vec<String>) -> UserAuth {
    UserAuth::Passwords(ps.into_iter().map(Password::new).collect())
}

/// The rotation record of a password entry, and back.
fn slots(e: &PasswordEntry) -> Slots<String> {
    Slots {
        current: Some(e.current.clone()),
        pending: e.pending.clone(),
        previous: e.previous.clone(),
        rotated_at: e.rotated_at,
        requested_at: None,
    }
}

fn entry(s: &Slots<String>, interval: Duration) -> PasswordEntry {
    PasswordEntry {
        current: s.current.clone().unwrap_or_default(),
        previous: s.previous.clone(),
        pending: s.pending.clone(),
        rotated_at: s.rotated_at,
        rotate_at: Some(s.rotate_at(interval)),
    }
}

/// What ElastiCache's password count says of a record: two after an add or during the
/// overlap, one otherwise.
fn holds(count: u32, r: &Slots<String>) -> Holds {
    match (count, r.pending.is_some(), r.previous.is_some()) {
        (2, true, _) => Holds::CurrentAndPending,
        (2, false, true) => Holds::CurrentAndPrevious,
        (1, _, _) => Holds::Current,
        _ => Holds::Other,
    }
}

/// One password user's step: created or given a first password, then along the rotation.
fn password_user(
    to: &Making<'_>,
    u: &WantedUser,
    observed: Option<&ObservedUser>,
    records: &mut BTreeMap<String, PasswordEntry>,
    timing: Timing,
    new: String,
    steps: &mut Users,
) {
    let id = &u.user_id;
    let now = to.now;
    let first = |new: String| PasswordEntry {
        rotate_at: now
            .checked_add(jiff::SignedDuration::try_from(timing.interval).unwrap_or_default())
            .ok(),
        ..PasswordEntry::new(new, now)
    };
    let Some(e) = records.get(id).cloned() else {
        // Nothing recorded: put a password in the cloud (a new user, or the unknown passwords
        // of an existing one replaced), then record it.
        match observed {
            None => steps.writes.push(Write::CreateUser {
                user: to.user(u, passwords(vec![new.clone()])),
                record: Some(first(new)),
            }),
            Some(o) if !o.is_active() => steps.busy.push(format!("user {id} is {}", o.status)),
            Some(_) => {
                steps.writes.push(Write::ModifyUser {
                    user_id: id.clone(),
                    change: UserChange {
                        access_string: access_change(u, observed),
                        auth: Some(passwords(vec![new.clone()])),
                    },
                    record: Some(first(new)),
                });
                steps
                    .busy
                    .push(format!("setting the password of user {id}"));
            }
        }
        return;
    };
    let Some(o) = observed else {
        // Recorded, but the user is gone: made again with the recorded passwords.
        steps.writes.push(Write::CreateUser {
            user: to.user(u, passwords(e.accepted())),
            record: None,
        });
        return;
    };
    let count = match o.auth {
        ObservedAuth::Password { count } => count,
        _ => 0,
    };
    let active = o.is_active();
    let view = |r: &Slots<String>| {
        if active {
            Cloud::Holds(holds(count, r))
        } else {
            Cloud::Busy
        }
    };
    let a = rotation::advance(&slots(&e), view, now, timing, &new);
    let next = entry(&a.record, timing.interval);
    if a.rotated {
        let overlap = rotation::overlap(timing.overlap, timing.interval);
        steps.notes.push(note(
            event::PASSWORD_ROTATED,
            "Rotate",
            format!(
                "user {id} has a new password; the previous one works for {} more",
                humantime(overlap)
            ),
        ));
    }
    // A rotation in flight is routine: it keeps the group Ready.
    let under_way = e.pending.is_some() || e.previous.is_some();
    let modify = |steps: &mut Users, change: UserChange| {
        steps.writes.push(Write::ModifyUser {
            user_id: id.clone(),
            change,
            record: None,
        })
    };
    let only = |ps: Vec<String>| UserChange {
        access_string: None,
        auth: Some(passwords(ps)),
    };
    match (a.send, a.next) {
        (Some(Send::CurrentAndPending), _) => {
            let accepted = vec![
                next.current.clone(),
                next.pending.clone().unwrap_or_default(),
            ];
            modify(steps, only(accepted));
            steps
                .rotating
                .push(format!("rotating the password of user {id}"));
        }
        (Some(Send::Current), _) => {
            modify(steps, only(vec![next.current.clone()]));
            steps
                .rotating
                .push(format!("removing the previous password of user {id}"));
        }
        (Some(Send::Recorded), _) => {
            modify(
                steps,
                UserChange {
                    access_string: access_change(u, observed),
                    auth: Some(passwords(next.accepted())),
                },
            );
            steps
                .busy
                .push(format!("restoring the passwords of user {id}"));
        }
        (None, None) => {
            let why = format!("user {id} is {}", o.status);
            if under_way {
                steps.rotating.push(why);
            } else {
                steps.busy.push(why);
            }
        }
        (None, Some(due)) => {
            steps.due(due);
            if let Some(access) = access_change(u, observed) {
                modify(
                    steps,
                    UserChange {
                        access_string: Some(access),
                        auth: None,
                    },
                );
                steps.busy.push(format!("updating user {id}"));
            }
        }
    }
    records.insert(id.clone(), next);
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
pub fn name_conflict(u: &WantedUser, observed: Option<&ObservedUser>) -> Option<String> {
    let o = observed.filter(|o| o.user_name != u.user_name)?;
    Some(format!(
        "user {} exists in ElastiCache with userName {:?}, not {:?}; user names cannot change, choose another userId",
        u.user_id, o.user_name, u.user_name
    ))
}

/// The access string to set, when the cloud has another.
pub fn access_change(u: &WantedUser, observed: Option<&ObservedUser>) -> Option<String> {
    observed
        .filter(|o| o.access_string != u.access_string)
        .map(|_| u.access_string.clone())
}

/// The step for an IAM or stand-in user (password users follow the rotation).
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

/// Why a group cannot be granted on the Memorystore for Valkey instances that list it: members
/// of kinds Valkey's IAM authentication does not accept (groups, domains…), named with the
/// instances; `None` when every member is accepted or no instance lists the group.
pub fn unsupported_principals(g: &GcpUserGroup, listing: &[Listing]) -> Option<String> {
    let instances: Vec<&str> = listing
        .iter()
        .filter(|c| {
            c.gcp
                .as_ref()
                .is_some_and(|(_, r)| r.contains("/instances/"))
        })
        .map(|c| c.name.as_str())
        .collect();
    let refused: Vec<&str> = g
        .members
        .iter()
        .filter(|m| !valkey_accepts(m))
        .map(String::as_str)
        .collect();
    if instances.is_empty() || refused.is_empty() {
        return None;
    }
    Some(format!(
        "Memorystore for Valkey accepts only user: and serviceAccount: principals for IAM authentication, and {} list this group: remove {} from spec.gcp.members (or list the group only on Redis Cluster clusters); no grants were written",
        instances.join(", "),
        refused.join(", ")
    ))
}

/// The gcp grants a group needs: one per gcp cluster that lists it, by project.
pub fn wanted_grants(members: &GcpUserGroup, listing: &[Listing]) -> BTreeMap<String, Vec<Grant>> {
    let mut out: BTreeMap<String, Vec<Grant>> = BTreeMap::new();
    for (project, cluster) in listing.iter().filter_map(|c| c.gcp.clone()) {
        out.entry(project).or_default().push(Grant {
            cluster,
            members: members.members.clone(),
        });
    }
    for grants in out.values_mut() {
        grants.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        grants.dedup_by(|a, b| a.cluster == b.cluster);
    }
    out
}

/// The gcp plan: the grants of every project that has or had some.
fn gcp(g: &GcpUserGroup, seen: &Observed, status: &UserGroupStatus) -> GcpPlan {
    let wanted = wanted_grants(g, &seen.clusters);
    let mut projects: BTreeSet<String> = wanted.keys().cloned().collect();
    projects.extend(status.grants.iter().map(|g| g.project.clone()));
    GcpPlan {
        clusters: Clusters::on(&seen.clusters, Provider::Gcp),
        covered: wanted.values().map(Vec::len).sum(),
        projects: projects
            .into_iter()
            .map(|p| {
                let grants = wanted.get(&p).cloned().unwrap_or_default();
                (p, grants)
            })
            .collect(),
        members: sorted(&g.members).len(),
        digest: seen.gcp_digest.clone(),
    }
}

/// What a deletion does.
#[derive(Clone, Debug)]
pub enum Leave {
    /// Clusters still list the group: wait (without touching the cloud).
    InUse(Outcome),
    /// Nothing left in the cloud, or nothing that is this object's: release.
    Release {
        /// An event (a group left alone), and whether to delete the password Secret.
        note: Option<Note>,
        forget_records: bool,
    },
    /// The user group is still attached to replication groups: wait.
    Attached(Outcome),
    /// Delete the user group (unless the cloud is deleting it already) and wait.
    DeleteGroup { already: bool, outcome: Outcome },
    /// The group is gone: delete the users it made, the password Secret, then release.
    DeleteUsers {
        users: Vec<String>,
        group_id: String,
    },
    /// Remove every grant in these projects (gcp).
    Ungrant { projects: Vec<String> },
}

/// The plan of a deletion (aws: from what was read; gcp: from the status and the spec).
pub fn leave(
    desired: &Result<DesiredUserGroup, FieldErrors>,
    provider: Provider,
    leaving: Option<&Leaving>,
    status: &UserGroupStatus,
) -> Leave {
    if provider == Provider::Gcp {
        let mut projects: BTreeSet<String> =
            status.grants.iter().map(|g| g.project.clone()).collect();
        if let (Ok(DesiredUserGroup::Gcp(g)), Some(l)) = (desired, leaving) {
            projects.extend(wanted_grants(g, &l.clusters).into_keys());
        }
        return Leave::Ungrant {
            projects: projects.into_iter().collect(),
        };
    }
    let Some(l) = leaving else {
        return Leave::Release {
            note: None,
            forget_records: false,
        };
    };
    if !l.clusters.is_empty() {
        let names: Vec<&str> = l.clusters.iter().map(|c| c.name.as_str()).collect();
        return Leave::InUse(Outcome::new(
            (),
            Summary::progressing(
                reason::IN_USE,
                format!(
                    "cannot delete the user group while RedisCluster(s) {} list it in userGroupRefs",
                    names.join(", ")
                ),
            ),
            Next::Resync,
        ));
    }
    if l.region.is_empty() {
        return Leave::Release {
            note: None,
            forget_records: false,
        };
    }
    let group_id = &l.group_id;
    match &l.group {
        Some((group, _)) if !group.replication_groups.is_empty() => Leave::Attached(Outcome::new(
            (),
            Summary::progressing(
                reason::IN_USE,
                format!(
                    "cannot delete user group {group_id}: still attached to replication group(s) {}",
                    group.replication_groups.join(", ")
                ),
            ),
            Next::Slowly,
        )),
        Some((_, false)) => Leave::Release {
            note: Some(note(
                event::RELEASED,
                "Delete",
                format!("left user group {group_id} alone: it was not created for this object"),
            )),
            forget_records: true,
        },
        Some((group, true)) => Leave::DeleteGroup {
            already: CloudStatus::of(&group.status) == CloudStatus::Deleting,
            outcome: Outcome::new(
                (),
                Summary::progressing(reason::UPDATING, format!("deleting user group {group_id}")),
                Next::Soon,
            ),
        },
        None => Leave::DeleteUsers {
            users: status.users.clone(),
            group_id: group_id.clone(),
        },
    }
}

pub fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

pub fn humantime(d: Duration) -> String {
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
