//! Cross-region replication as both Memorystore APIs define it — Redis Cluster's
//! `crossClusterReplicationConfig` and Valkey's `crossInstanceReplicationConfig` (the same message
//! with `cluster` spelled `instance`): a primary and at most two secondaries in the same project,
//! hub and spoke. A secondary is created with its primary named; every other change is an update
//! of the config alone, sent to the member whose role changes:
//!
//! - **switchover** to a secondary: `{role: PRIMARY, secondaries: [old primary, other secondaries]}`;
//! - **detach** on a secondary: `{role: NONE}`;
//! - **detach secondaries** on the primary: the secondaries it keeps, or `{role: NONE}` for none.
//!
//! Every member reports the whole set (`membership`, with `uid`s) and when it last changed
//! (`updateTime`). The members' servers replicate for real (see [`crate::dataplane`]): a secondary
//! follows its primary read-only, a switchover swaps the direction, a detached member takes writes.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::Query;
use super::error::RpcError;
use super::managed::{Begun, Mutation, busy, injected_failure, lookup, operation_name, snapshot};
use super::operations::{Operation, Verb};
use super::protojson::{Obj, ProtoEnum, camel_case, proto_enum, snake_case};
use super::resource::{Managed, Resource, State};
use super::state::GcpState;
use crate::dataplane::BackendKey;
use crate::sim::Shared;
use crate::util::rfc3339_micros;

/// Secondaries a primary may have ("the initial release supports up to two secondary clusters").
pub const MAX_SECONDARIES: usize = 2;
/// How long a switchover waits for the promoted member to apply what the old primary took.
const CATCH_UP: Duration = Duration::from_secs(5);
/// How long a new replica's first full copy may take before the change is reported done anyway.
const FIRST_SYNC: Duration = Duration::from_secs(30);

proto_enum!(ClusterRole, "CrossClusterReplicationConfig.ClusterRole", {
    CLUSTER_ROLE_UNSPECIFIED = 0,
    NONE = 1,
    PRIMARY = 2,
    SECONDARY = 3,
});

proto_enum!(InstanceRole, "CrossInstanceReplicationConfig.InstanceRole", {
    INSTANCE_ROLE_UNSPECIFIED = 0,
    NONE = 1,
    PRIMARY = 2,
    SECONDARY = 3,
});

/// A member's role; both APIs number them alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Role {
    /// Never replicated (the config is not reported).
    #[default]
    Unspecified,
    /// Replicated once; independent now.
    None,
    Primary,
    Secondary,
}

impl Role {
    fn number(self) -> i32 {
        match self {
            Role::Unspecified => 0,
            Role::None => 1,
            Role::Primary => 2,
            Role::Secondary => 3,
        }
    }

    fn from_number(n: i32) -> Self {
        match n {
            1 => Role::None,
            2 => Role::Primary,
            3 => Role::Secondary,
            _ => Role::Unspecified,
        }
    }
}

/// The config's field names in one API.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// `crossClusterReplicationConfig`.
    pub field: &'static str,
    /// `clusterRole`.
    pub role: &'static str,
    /// `primaryCluster`.
    pub primary: &'static str,
    /// `secondaryClusters`.
    pub secondaries: &'static str,
    /// `cluster`: the member's name inside a remote.
    pub member: &'static str,
}

/// Another member, as the config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub name: String,
    pub uid: String,
}

/// A member's replication: its role, its links, and its view of the whole set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replication {
    pub role: Role,
    /// A secondary's primary.
    pub primary: Option<Remote>,
    /// A primary's secondaries, in the order they were given.
    pub secondaries: Vec<Remote>,
    /// The set as every member reports it: its primary and secondaries.
    pub membership: Option<(Remote, Vec<Remote>)>,
    pub update_time: Option<Timestamp>,
}

impl Replication {
    /// The names of the other members (a primary's secondaries, or a secondary's primary).
    fn secondary_names(&self) -> Vec<String> {
        self.secondaries.iter().map(|s| s.name.clone()).collect()
    }
}

fn remote_json(member: &str, r: &Remote) -> Value {
    json!({ member: r.name, "uid": r.uid })
}

/// The config as the API returns it; `None` for a resource that never replicated.
pub fn render<T: Managed>(r: &Replication, ints: bool) -> Option<(&'static str, Value)> {
    if r.role == Role::Unspecified {
        return None;
    }
    let n = T::REPLICATION;
    let mut m = Map::new();
    let role =
        T::ReplicationRole::from_number(r.role.number()).map_or(Value::Null, |e| e.json(ints));
    m.insert(n.role.into(), role);
    if let Some(p) = &r.primary {
        m.insert(n.primary.into(), remote_json(n.member, p));
    }
    if !r.secondaries.is_empty() {
        m.insert(
            n.secondaries.into(),
            r.secondaries
                .iter()
                .map(|s| remote_json(n.member, s))
                .collect(),
        );
    }
    if let Some((p, ss)) = &r.membership {
        m.insert(
            "membership".into(),
            json!({
                n.primary: remote_json(n.member, p),
                n.secondaries: ss.iter().map(|s| remote_json(n.member, s)).collect::<Vec<_>>(),
            }),
        );
    }
    if let Some(t) = r.update_time {
        m.insert("updateTime".into(), rfc3339_micros(t).into());
    }
    Some((n.field, Value::Object(m)))
}

/// The config as a request gives it (output fields ignored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicationInput {
    pub role: Role,
    pub primary: Option<String>,
    pub secondaries: Vec<String>,
}

impl ReplicationInput {
    /// Reads the config from a request's resource message.
    pub fn read<T: Managed>(o: &mut Obj) -> Result<Option<Self>, RpcError> {
        let n = T::REPLICATION;
        let Some(mut c) = o.object(n.field)? else {
            return Ok(None);
        };
        let role = c
            .enumeration::<T::ReplicationRole>(n.role)?
            .map_or(Role::Unspecified, |r| Role::from_number(r.number()));
        let member = |mut r: Obj| -> Result<Option<String>, RpcError> {
            let name = r.string(n.member)?;
            r.ignore(&["uid"]);
            r.finish()?;
            Ok(name.filter(|s| !s.is_empty()))
        };
        let primary = match c.object(n.primary)? {
            Some(p) => member(p)?,
            None => None,
        };
        let mut secondaries = Vec::new();
        for s in c.objects(n.secondaries)?.unwrap_or_default() {
            let field = s.path().to_owned();
            let name = member(s)?.ok_or_else(|| {
                RpcError::bad_field(
                    &format!("{field}.{}", n.member),
                    format!(
                        "{} is required for each of {}",
                        n.member,
                        snake_case(n.secondaries)
                    ),
                )
            })?;
            secondaries.push(name);
        }
        c.ignore(&["membership", "updateTime"]);
        c.finish()?;
        Ok(Some(Self {
            role,
            primary,
            secondaries,
        }))
    }
}

impl ReplicationInput {
    /// The config an update asks for under `mask`: the whole of `self` when the mask names the
    /// config, else its fields the mask names (`…Config.instanceRole`, as gcloud sends after
    /// reading the resource) over the `current` ones.
    pub fn masked<T: Managed>(self, current: &Replication, mask: &str) -> Self {
        let n = T::REPLICATION;
        let mut subs = Vec::new();
        for path in mask.split(',').map(str::trim) {
            let mut parts = path.splitn(2, '.');
            if camel_case(parts.next().unwrap_or_default()) != n.field {
                continue;
            }
            match parts.next() {
                None => return self,
                Some(sub) => subs.push(camel_case(sub.split('.').next().unwrap_or(sub))),
            }
        }
        if subs.is_empty() {
            return self;
        }
        Self {
            role: if subs.iter().any(|s| s == n.role) {
                self.role
            } else {
                current.role
            },
            primary: if subs.iter().any(|s| s == n.primary) {
                self.primary
            } else {
                current.primary.as_ref().map(|p| p.name.clone())
            },
            secondaries: if subs.iter().any(|s| s == n.secondaries) {
                self.secondaries
            } else {
                current.secondary_names()
            },
        }
    }
}

/// `{noun}.cross_cluster_replication_config[.sub]`, for errors.
fn field<T: Managed>(sub: Option<&str>) -> String {
    let base = format!("{}.{}", T::NOUN, snake_case(T::REPLICATION.field));
    match sub {
        Some(s) => format!("{base}.{}", snake_case(s)),
        None => base,
    }
}

/// Checks a member's full name (`projects/P/locations/L/{collection}/ID`); returns its project.
fn member_project<'a, T: Managed>(name: &'a str, at: &str) -> Result<&'a str, RpcError> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        ["projects", p, "locations", l, c, id]
            if *c == T::COLLECTION && !p.is_empty() && !l.is_empty() && !id.is_empty() =>
        {
            Ok(p)
        }
        _ => Err(RpcError::bad_field(
            at,
            format!(
                "Invalid {} name {name:?}: expected projects/{{project}}/locations/{{location}}/{}/{{{}}}",
                T::NOUN,
                T::COLLECTION,
                T::REPLICATION.member
            ),
        )),
    }
}

fn project_of(name: &str) -> &str {
    name.split('/').nth(1).unwrap_or("")
}

/// What a create asks of replication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewSecondary {
    /// Follow this primary, which exists and can take a secondary.
    Of(String),
    /// The named primary does not exist: the create operation fails.
    Missing(String),
}

/// Checks the config of a create of `name`: nothing, or a secondary of an existing primary of the
/// same project that is ACTIVE, is no secondary itself and has room for another secondary.
pub fn plan_create<T: Managed>(
    gcp: &GcpState,
    name: &str,
    input: Option<&ReplicationInput>,
) -> Result<Option<NewSecondary>, RpcError> {
    let Some(input) = input else { return Ok(None) };
    let n = T::REPLICATION;
    let role_field = field::<T>(Some(n.role));
    match input.role {
        Role::Unspecified | Role::None => {
            if input.primary.is_some() || !input.secondaries.is_empty() {
                return Err(RpcError::bad_field(
                    &role_field,
                    format!(
                        "{} must be SECONDARY to replicate from a primary {}",
                        snake_case(n.role),
                        T::NOUN
                    ),
                ));
            }
            return Ok(None);
        }
        Role::Primary => {
            return Err(RpcError::bad_field(
                &role_field,
                format!(
                    "A {noun} becomes a primary when a secondary {noun} is created with it as {}; \
                     create secondaries with {} SECONDARY",
                    snake_case(n.primary),
                    snake_case(n.role),
                    noun = T::NOUN
                ),
            ));
        }
        Role::Secondary => {}
    }
    if !input.secondaries.is_empty() {
        return Err(RpcError::bad_field(
            &field::<T>(Some(n.secondaries)),
            format!(
                "{} is only set for a primary {}",
                snake_case(n.secondaries),
                T::NOUN
            ),
        ));
    }
    let primary_field = format!("{}.{}", field::<T>(Some(n.primary)), n.member);
    let primary = input.primary.as_deref().ok_or_else(|| {
        RpcError::bad_field(
            &primary_field,
            format!("{primary_field} is required for a secondary {}", T::NOUN),
        )
    })?;
    let project = member_project::<T>(primary, &primary_field)?;
    if project != project_of(name) {
        return Err(RpcError::bad_field(
            &primary_field,
            format!(
                "The primary {noun} {primary} must be in the project of the secondary {noun} ({})",
                project_of(name),
                noun = T::NOUN
            ),
        ));
    }
    if primary == name {
        return Err(RpcError::bad_field(
            &primary_field,
            format!("A {} cannot replicate from itself", T::NOUN),
        ));
    }
    let Some(p) = T::table(gcp).get(primary) else {
        return Ok(Some(NewSecondary::Missing(primary.to_owned())));
    };
    let rep = &p.common.replication;
    if rep.role == Role::Secondary {
        return Err(RpcError::failed_precondition(format!(
            "The {noun} {primary} is a secondary {noun}: secondaries replicate from the primary only \
             ({})",
            rep.primary.as_ref().map_or("", |r| r.name.as_str()),
            noun = T::NOUN
        )));
    }
    if p.common.state != State::ACTIVE || p.common.backing_up {
        return Err(busy(p));
    }
    if rep.secondaries.len() >= MAX_SECONDARIES {
        return Err(RpcError::failed_precondition(format!(
            "The primary {noun} {primary} already has {MAX_SECONDARIES} secondary {noun}s, the most \
             cross-region replication supports",
            noun = T::NOUN
        )));
    }
    Ok(Some(NewSecondary::Of(primary.to_owned())))
}

/// The primary a create names, when it exists, and its spec.
pub fn primary_spec<'a, T: Managed>(
    gcp: &'a GcpState,
    link: Option<&NewSecondary>,
) -> Option<(&'a str, &'a T::Spec)> {
    match link {
        Some(NewSecondary::Of(p)) => T::table(gcp)
            .get(p)
            .map(|r| (r.common.name.as_str(), &r.spec)),
        _ => None,
    }
}

/// The spec a secondary is created with: the settings it takes from its primary, after checking
/// that those the request gives (the body's top-level fields) match the primary's.
pub fn inherit_create<T: Managed>(
    body: &[u8],
    spec: &T::Spec,
    (primary_name, primary): (&str, &T::Spec),
) -> Result<T::Spec, RpcError> {
    let body: Value = serde_json::from_slice(body).unwrap_or_default();
    let given = |camel: &str| {
        body.get(camel)
            .or_else(|| body.get(snake_case(camel)))
            .is_some_and(|v| !v.is_null())
    };
    let mine = T::shared_settings(spec);
    for (camel, theirs) in T::shared_settings(primary) {
        let ours = mine.iter().find(|(k, _)| *k == camel).map(|(_, v)| v);
        if given(camel) && ours != Some(&theirs) {
            let f = format!("{}.{}", T::NOUN, snake_case(camel));
            return Err(RpcError::bad_field(
                &f,
                format!(
                    "{} of a secondary {noun} must match its primary {noun} {primary_name} ({theirs}); \
                     leave it unset to copy it",
                    snake_case(camel),
                    noun = T::NOUN
                ),
            ));
        }
    }
    Ok(T::inherit(primary, spec))
}

fn remote<T: Managed>(gcp: &GcpState, name: &str) -> Remote {
    Remote {
        name: name.to_owned(),
        uid: T::table(gcp)
            .get(name)
            .map(|r| r.common.uid.clone())
            .unwrap_or_default(),
    }
}

/// Makes `primary` the primary of `secondaries` (every member's config and view).
fn set_topology<T: Managed>(
    gcp: &mut GcpState,
    primary: &str,
    secondaries: &[String],
    now: Timestamp,
) {
    let p = remote::<T>(gcp, primary);
    let ss: Vec<Remote> = secondaries.iter().map(|s| remote::<T>(gcp, s)).collect();
    let membership = Some((p.clone(), ss.clone()));
    if let Some(r) = T::table_mut(gcp).get_mut(primary) {
        r.common.replication = Replication {
            role: Role::Primary,
            primary: None,
            secondaries: ss,
            membership: membership.clone(),
            update_time: Some(now),
        };
    }
    for s in secondaries {
        if let Some(r) = T::table_mut(gcp).get_mut(s) {
            r.common.replication = Replication {
                role: Role::Secondary,
                primary: Some(p.clone()),
                secondaries: Vec::new(),
                membership: membership.clone(),
                update_time: Some(now),
            };
        }
    }
}

/// Makes `name` independent (`NONE`): it replicated once.
fn set_independent<T: Managed>(gcp: &mut GcpState, name: &str, now: Timestamp) {
    if let Some(r) = T::table_mut(gcp).get_mut(name) {
        r.common.replication = Replication {
            role: Role::None,
            update_time: Some(now),
            ..Replication::default()
        };
    }
}

/// A new secondary joins its primary's set (while it is still being created).
pub fn attach<T: Managed>(gcp: &mut GcpState, primary: &str, secondary: &str) {
    let Some(p) = T::table(gcp).get(primary) else {
        return;
    };
    let mut secondaries = p.common.replication.secondary_names();
    secondaries.push(secondary.to_owned());
    set_topology::<T>(gcp, primary, &secondaries, Timestamp::now());
}

/// A member that is gone (deleted, or its create failed) leaves its set; a primary left without
/// secondaries is independent again.
pub fn forget<T: Managed>(gcp: &mut GcpState, name: &str, primary: Option<&str>) {
    let Some(primary) = primary else { return };
    let Some(p) = T::table(gcp).get(primary) else {
        return;
    };
    let kept: Vec<String> = p
        .common
        .replication
        .secondary_names()
        .into_iter()
        .filter(|s| s != name)
        .collect();
    let now = Timestamp::now();
    if kept.is_empty() {
        set_independent::<T>(gcp, primary, now);
    } else {
        set_topology::<T>(gcp, primary, &kept, now);
    }
}

/// The primary whose set a secondary belongs to.
pub fn primary_of(r: &Replication) -> Option<&str> {
    (r.role == Role::Secondary)
        .then(|| r.primary.as_ref().map(|p| p.name.as_str()))
        .flatten()
}

/// What an update of the config does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// The config says what it already is.
    Nothing,
    /// `new_primary` (a secondary) takes over; the old primary and the others follow it, in the
    /// order the request lists them.
    Switchover {
        new_primary: String,
        followers: Vec<String>,
    },
    /// `detached` leave `primary`'s set, which keeps `kept` (none: the primary is independent).
    Detach {
        primary: String,
        detached: Vec<String>,
        kept: Vec<String>,
    },
}

impl Change {
    /// The members the change reconfigures (UPDATING while it runs), the target first.
    fn members(&self, target: &str) -> Vec<String> {
        let mut out = vec![target.to_owned()];
        let others: Vec<&String> = match self {
            Change::Nothing => Vec::new(),
            Change::Switchover { followers, .. } => followers.iter().collect(),
            Change::Detach {
                primary, detached, ..
            } => std::iter::once(primary).chain(detached).collect(),
        };
        for m in others {
            if !out.contains(m) {
                out.push(m.clone());
            }
        }
        out
    }
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

fn duplicates(list: &[String]) -> Option<&String> {
    list.iter()
        .enumerate()
        .find(|(i, x)| list[..*i].contains(x))
        .map(|(_, x)| x)
}

/// What an update of `name`'s config to `input` does, as the service allows it.
fn plan_patch<T: Managed>(
    gcp: &GcpState,
    name: &str,
    input: &ReplicationInput,
) -> Result<Change, RpcError> {
    let n = T::REPLICATION;
    let noun = T::NOUN;
    let cur = &lookup_ref::<T>(gcp, name)?.common.replication;
    let secondaries_field = field::<T>(Some(n.secondaries));
    if let Some(d) = duplicates(&input.secondaries) {
        return Err(RpcError::bad_field(
            &secondaries_field,
            format!("{d} is listed twice in {}", snake_case(n.secondaries)),
        ));
    }
    for s in &input.secondaries {
        member_project::<T>(s, &secondaries_field)?;
    }
    match (cur.role, input.role) {
        // Detach (a secondary) or detach every secondary (the primary).
        (Role::Secondary, Role::None | Role::Unspecified) => {
            let primary = primary_of(cur).unwrap_or_default().to_owned();
            let kept = lookup_ref::<T>(gcp, &primary)
                .map(|p| p.common.replication.secondary_names())
                .unwrap_or_default()
                .into_iter()
                .filter(|s| s != name)
                .collect();
            Ok(Change::Detach {
                primary,
                detached: vec![name.to_owned()],
                kept,
            })
        }
        (Role::Primary, Role::None | Role::Unspecified) => Ok(Change::Detach {
            primary: name.to_owned(),
            detached: cur.secondary_names(),
            kept: Vec::new(),
        }),
        (Role::Secondary, Role::Secondary) => match &input.primary {
            Some(p) if Some(p.as_str()) != primary_of(cur) => Err(RpcError::bad_field(
                &format!("{}.{}", field::<T>(Some(n.primary)), n.member),
                format!(
                    "The primary of a secondary {noun} cannot be changed: detach it, or switch over \
                     to another member"
                ),
            )),
            _ if !input.secondaries.is_empty() => Err(RpcError::bad_field(
                &secondaries_field,
                format!(
                    "{} is only set for a primary {noun}",
                    snake_case(n.secondaries)
                ),
            )),
            _ => Ok(Change::Nothing),
        },
        // Switchover: this secondary becomes the primary of all the others.
        (Role::Secondary, Role::Primary) => {
            let old = primary_of(cur).unwrap_or_default().to_owned();
            let mut expected = vec![old.clone()];
            expected.extend(
                lookup_ref::<T>(gcp, &old)
                    .map(|p| p.common.replication.secondary_names())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|s| s != name),
            );
            // The old primary may still be named (an update that leaves it unmasked).
            if input.primary.as_ref().is_some_and(|p| *p != old) {
                return Err(RpcError::bad_field(
                    &field::<T>(Some(n.primary)),
                    format!(
                        "{} is only set for a secondary {noun}",
                        snake_case(n.primary)
                    ),
                ));
            }
            if !same_set(&input.secondaries, &expected) {
                return Err(RpcError::bad_field(
                    &secondaries_field,
                    format!(
                        "A switchover to {name} must list the current primary and every other \
                         secondary as its {}: [{}]",
                        snake_case(n.secondaries),
                        expected.join(", ")
                    ),
                ));
            }
            Ok(Change::Switchover {
                new_primary: name.to_owned(),
                followers: input.secondaries.clone(),
            })
        }
        (Role::Primary, Role::Primary) => {
            if input.primary.is_some() {
                return Err(RpcError::bad_field(
                    &field::<T>(Some(n.primary)),
                    format!(
                        "{} is only set for a secondary {noun}",
                        snake_case(n.primary)
                    ),
                ));
            }
            let current = cur.secondary_names();
            if input.secondaries.is_empty() {
                return Err(RpcError::bad_field(
                    &secondaries_field,
                    format!(
                        "A primary {noun} needs at least one secondary; set {} NONE to detach them all",
                        snake_case(n.role)
                    ),
                ));
            }
            if let Some(s) = input.secondaries.iter().find(|s| !current.contains(s)) {
                return Err(RpcError::bad_field(
                    &secondaries_field,
                    format!(
                        "{s} is not a secondary of {name}: a secondary {noun} is created with {}.{}",
                        snake_case(n.primary),
                        n.member
                    ),
                ));
            }
            if same_set(&input.secondaries, &current) {
                return Ok(Change::Nothing);
            }
            Ok(Change::Detach {
                primary: name.to_owned(),
                detached: current
                    .into_iter()
                    .filter(|s| !input.secondaries.contains(s))
                    .collect(),
                kept: input.secondaries.clone(),
            })
        }
        (Role::Primary, Role::Secondary) => Err(RpcError::failed_precondition(format!(
            "The {noun} {name} is the primary: to make another member the primary, switch over on \
             that secondary {noun}"
        ))),
        (Role::None | Role::Unspecified, Role::None | Role::Unspecified)
            if input.primary.is_none() && input.secondaries.is_empty() =>
        {
            Ok(Change::Nothing)
        }
        (Role::None | Role::Unspecified, _) => Err(RpcError::failed_precondition(format!(
            "The {noun} {name} does not take part in cross-region replication: a secondary {noun} is \
             created with {}.{} naming its primary, and an existing {noun} cannot join",
            snake_case(n.primary),
            n.member
        ))),
    }
}

fn lookup_ref<'a, T: Managed>(gcp: &'a GcpState, name: &str) -> Result<&'a Resource<T>, RpcError> {
    T::table(gcp)
        .get(name)
        .ok_or_else(|| RpcError::not_found(name))
}

/// `PATCH …?updateMask=cross_cluster_replication_config`: a switchover, a detach or a detach of
/// secondaries. Every member the change reconfigures is UPDATING until the provisioning delay has
/// passed and the servers replicate the new way; then all are ACTIVE with their new configs.
pub fn patch<T: Managed>(
    shared: &Arc<Shared>,
    name: &str,
    q: &Query,
    input: ReplicationInput,
) -> Result<Value, RpcError> {
    let mask = q.get("updateMask").unwrap_or_default();
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let mutation = match Mutation::begin(shared, &mut gcp, Verb::Update, name, q)? {
        Begun::Fresh(m) => m,
        Begun::Replayed(op) => return Ok(op),
    };
    let target = lookup::<T>(&mut gcp, name)?;
    if target.common.state != State::ACTIVE || target.common.backing_up {
        return Err(busy(target));
    }
    let input = input.masked::<T>(&target.common.replication, mask);
    let change = plan_patch::<T>(&gcp, name, &input)?;
    let members = change.members(name);
    let mut incarnations = Vec::new();
    for m in &members {
        let r = lookup_ref::<T>(&gcp, m)?;
        if r.common.state != State::ACTIVE || r.common.backing_up {
            return Err(busy(r));
        }
        incarnations.push((m.clone(), r.common.incarnation));
    }
    for m in &members {
        if let Some(r) = T::table_mut(&mut gcp).get_mut(m) {
            r.common.state = State::UPDATING;
        }
    }
    let parent = lookup_ref::<T>(&gcp, name)?.common.parent.clone();
    let op = Operation::new(T::SERVICE, &parent, name.to_owned(), Verb::Update);
    let rendered = op.render(q.ints());
    let op_name = op.name.clone();
    mutation.record(&mut gcp, op);
    drop(gcp);
    let fail = shared
        .faults
        .take_operation_failure(&operation_name::<T>("patch"));
    tracing::info!(name = %name, change = ?change, "memorystore cross-region replication changing");

    let provisioned = shared.provisioning(crate::config::Transition::Modify);
    let shared = shared.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        if !fail {
            rewire(&shared, &change).await;
        }
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        let current = |gcp: &GcpState, m: &str, inc: u64| {
            T::table(gcp)
                .get(m)
                .is_some_and(|r| r.common.incarnation == inc && r.common.state == State::UPDATING)
        };
        let live: Vec<&String> = incarnations
            .iter()
            .filter(|(m, inc)| current(&gcp, m, *inc))
            .map(|(m, _)| m)
            .collect();
        if !fail {
            let now = Timestamp::now();
            match &change {
                Change::Nothing => {}
                Change::Switchover {
                    new_primary,
                    followers,
                } => set_topology::<T>(&mut gcp, new_primary, followers, now),
                Change::Detach {
                    primary,
                    detached,
                    kept,
                } => {
                    for d in detached {
                        set_independent::<T>(&mut gcp, d, now);
                    }
                    if kept.is_empty() {
                        set_independent::<T>(&mut gcp, primary, now);
                    } else {
                        set_topology::<T>(&mut gcp, primary, kept, now);
                    }
                }
            }
        }
        for m in live {
            if let Some(r) = T::table_mut(&mut gcp).get_mut(m) {
                r.common.state = State::ACTIVE;
                if !fail && *m == name {
                    r.common.update_time = Timestamp::now();
                }
            }
        }
        let result = if fail {
            injected_failure()
        } else {
            match T::table(&gcp).get(&name) {
                Some(r) => snapshot(r),
                None => return,
            }
        };
        gcp.finish(&op_name, result);
    });
    Ok(rendered)
}

/// Makes the members' servers replicate as `change` says, before the change is reported done.
async fn rewire(shared: &Shared, change: &Change) {
    let dp = &shared.dataplane;
    let key = |n: &str| BackendKey::Gcp(n.to_owned());
    match change {
        Change::Nothing => {}
        Change::Switchover {
            new_primary,
            followers,
        } => {
            // The old primary stops taking writes; the new one applies what it took, then leads.
            for f in followers {
                dp.set_read_only(&key(f), true).await;
            }
            if !dp.promote(&key(new_primary), CATCH_UP).await && dp.enabled() {
                tracing::warn!(name = %new_primary, "the promoted secondary had not caught up");
            }
            for f in followers {
                dp.follow(&key(f), &key(new_primary)).await;
            }
            for f in followers {
                let _ = tokio::time::timeout(FIRST_SYNC, dp.synced(&key(f))).await;
            }
        }
        Change::Detach { detached, .. } => {
            // A detached secondary keeps its data and takes writes.
            for d in detached {
                dp.unfollow(&key(d)).await;
            }
        }
    }
}

/// Starts a new secondary's replication and waits for its first full copy (its create is done
/// once it serves the primary's data).
pub async fn start_following(shared: &Shared, secondary: &str, primary: &str) {
    let dp = &shared.dataplane;
    let (s, p) = (
        BackendKey::Gcp(secondary.to_owned()),
        BackendKey::Gcp(primary.to_owned()),
    );
    dp.set_read_only(&s, true).await;
    dp.follow(&s, &p).await;
    if dp.enabled() {
        let _ = tokio::time::timeout(FIRST_SYNC, dp.synced(&s)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gcp::clusters::Clusters;
    use crate::gcp::clusters::cluster::ClusterSpec;
    use crate::gcp::resource::{Common, Endpoint, LocationName};

    const P: &str = "projects/p/locations/us-central1/clusters/main";
    const S1: &str = "projects/p/locations/us-east1/clusters/east";
    const S2: &str = "projects/p/locations/europe-west1/clusters/eu";
    const X: &str = "projects/p/locations/us-central1/clusters/plain";

    /// A primary with two secondaries, and a cluster outside any set.
    fn store() -> GcpState {
        let mut gcp = GcpState::default();
        for (i, name) in [P, S1, S2, X].into_iter().enumerate() {
            let region = name.split('/').nth(3).unwrap();
            let common = Common {
                name: name.to_owned(),
                parent: LocationName::new("p", region).unwrap(),
                create_time: Timestamp::UNIX_EPOCH,
                update_time: Timestamp::UNIX_EPOCH,
                state: State::ACTIVE,
                uid: format!("uid-{i}"),
                endpoint: Endpoint::fake(i as u64),
                psc_ids: [1, 2],
                incarnation: i as u64,
                maintenance_schedule: None,
                backup_collection: None,
                backing_up: false,
                replication: Replication::default(),
            };
            let spec = ClusterSpec::parse_create(br#"{"shardCount": 1}"#, region).unwrap();
            gcp.clusters
                .insert(name.to_owned(), Resource::new(common, spec));
        }
        attach::<Clusters>(&mut gcp, P, S1);
        attach::<Clusters>(&mut gcp, P, S2);
        gcp
    }

    fn input(role: Role, primary: Option<&str>, secondaries: &[&str]) -> ReplicationInput {
        ReplicationInput {
            role,
            primary: primary.map(str::to_owned),
            secondaries: secondaries.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn updates_plan_as_the_service_allows() {
        let gcp = store();
        let ok = |target: &str, i: ReplicationInput| plan_patch::<Clusters>(&gcp, target, &i);
        assert_eq!(
            ok(S1, input(Role::Primary, None, &[S2, P])).unwrap(),
            Change::Switchover {
                new_primary: S1.into(),
                followers: names(&[S2, P]),
            },
            "a switchover lists the others in any order"
        );
        assert_eq!(
            ok(S1, input(Role::Primary, Some(P), &[P, S2])).unwrap(),
            Change::Switchover {
                new_primary: S1.into(),
                followers: names(&[P, S2]),
            },
            "the old primary may stay named when the mask leaves it"
        );
        assert_eq!(
            ok(S1, input(Role::None, Some(P), &[])).unwrap(),
            Change::Detach {
                primary: P.into(),
                detached: names(&[S1]),
                kept: names(&[S2]),
            }
        );
        assert_eq!(
            ok(P, input(Role::Primary, None, &[S2])).unwrap(),
            Change::Detach {
                primary: P.into(),
                detached: names(&[S1]),
                kept: names(&[S2]),
            }
        );
        assert_eq!(
            ok(P, input(Role::Unspecified, None, &[])).unwrap(),
            Change::Detach {
                primary: P.into(),
                detached: names(&[S1, S2]),
                kept: Vec::new(),
            }
        );
        for (target, i) in [
            (P, input(Role::Primary, None, &[S2, S1])),
            (S2, input(Role::Secondary, Some(P), &[])),
            (X, input(Role::None, None, &[])),
        ] {
            assert_eq!(ok(target, i).unwrap(), Change::Nothing, "{target}");
        }
        for (target, i, code) in [
            (S1, input(Role::Primary, None, &[P]), "INVALID_ARGUMENT"),
            (
                S1,
                input(Role::Primary, None, &[P, S2, X]),
                "INVALID_ARGUMENT",
            ),
            (
                S1,
                input(Role::Primary, Some(S2), &[P, S2]),
                "INVALID_ARGUMENT",
            ),
            (
                S1,
                input(Role::Secondary, Some(S2), &[]),
                "INVALID_ARGUMENT",
            ),
            (P, input(Role::Primary, None, &[]), "INVALID_ARGUMENT"),
            (P, input(Role::Primary, None, &[S1, X]), "INVALID_ARGUMENT"),
            (P, input(Role::Primary, None, &[S1, S1]), "INVALID_ARGUMENT"),
            (
                P,
                input(Role::Secondary, Some(S1), &[]),
                "FAILED_PRECONDITION",
            ),
            (X, input(Role::Primary, None, &[S1]), "FAILED_PRECONDITION"),
            (
                X,
                input(Role::Secondary, Some(P), &[]),
                "FAILED_PRECONDITION",
            ),
        ] {
            let e = ok(target, i).unwrap_err();
            assert_eq!(e.code.as_str(), code, "{target}: {e}");
        }
    }

    #[test]
    fn creates_check_the_primary() {
        let gcp = store();
        let new = "projects/p/locations/asia-east1/clusters/new";
        let plan = |i: ReplicationInput| plan_create::<Clusters>(&gcp, new, Some(&i));
        let code = |i: ReplicationInput| plan(i).unwrap_err().code.as_str();
        assert_eq!(
            plan(input(Role::Secondary, Some(X), &[])).unwrap(),
            Some(NewSecondary::Of(X.into()))
        );
        let missing = "projects/p/locations/us-central1/clusters/gone";
        assert_eq!(
            plan(input(Role::Secondary, Some(missing), &[])).unwrap(),
            Some(NewSecondary::Missing(missing.into()))
        );
        assert_eq!(plan(input(Role::None, None, &[])).unwrap(), None);
        assert_eq!(
            code(input(Role::Secondary, Some(P), &[])),
            "FAILED_PRECONDITION"
        );
        assert_eq!(
            code(input(Role::Secondary, Some(S1), &[])),
            "FAILED_PRECONDITION"
        );
        assert_eq!(code(input(Role::Primary, None, &[])), "INVALID_ARGUMENT");
        assert_eq!(code(input(Role::Secondary, None, &[])), "INVALID_ARGUMENT");
        assert_eq!(
            code(input(
                Role::Secondary,
                Some("projects/q/locations/l/clusters/c"),
                &[]
            )),
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            code(input(
                Role::Secondary,
                Some("projects/p/locations/l/instances/c"),
                &[]
            )),
            "INVALID_ARGUMENT"
        );
        // Every member sees the whole set.
        let view = |n: &str| gcp.clusters[n].common.replication.membership.clone();
        assert_eq!(view(P), view(S2));
        assert_eq!(view(P).unwrap().1.len(), 2);
    }

    #[test]
    fn masked_fields_apply_over_the_current_config() {
        let gcp = store();
        let current = &gcp.clusters[S1].common.replication;
        let body = input(Role::Primary, None, &[P, S2]);
        let whole = body
            .clone()
            .masked::<Clusters>(current, "cross_cluster_replication_config");
        assert_eq!(whole, body);
        let role_only = input(Role::None, None, &[])
            .masked::<Clusters>(current, "crossClusterReplicationConfig.clusterRole");
        assert_eq!(role_only, input(Role::None, Some(P), &[]));
        let lists = body
            .clone()
            .masked::<Clusters>(current, "crossClusterReplicationConfig.secondaryClusters");
        assert_eq!(lists, input(Role::Secondary, Some(P), &[P, S2]));
    }

    #[test]
    fn lists_compare_as_sets_and_duplicates_are_found() {
        let a = vec!["x".to_owned(), "y".to_owned()];
        let b = vec!["y".to_owned(), "x".to_owned()];
        assert!(same_set(&a, &b));
        assert!(!same_set(&a, &b[..1]));
        assert_eq!(
            duplicates(&["x".to_owned(), "x".to_owned()]),
            Some(&"x".to_owned())
        );
        assert_eq!(duplicates(&a), None);
        assert_eq!(Role::from_number(3), Role::Secondary);
        assert_eq!(Role::Primary.number(), 2);
    }
}
