//! The handlers both Memorystore products share, over [`Managed`]: create (with `requestId` replay,
//! import sources, CMEK, the data plane and CREATING → ACTIVE), get, list, patch (UPDATING → ACTIVE),
//! delete (DELETING → gone), the certificate authority, and `rescheduleMaintenance`. Each product
//! parses and checks its own request bodies and update masks and hands the result in here.

use std::sync::Arc;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::Query;
use super::backups;
use super::error::{Code, RpcError};
use super::lifecycle::{ImportSource, kms_key_location};
use super::listing::list_page;
use super::operations::{OpResult, Operation, Snapshot, Verb, parse_request_id};
use super::protojson::{Obj, ProtoEnum, proto_enum, snake_case};
use super::replication::{self, NewSecondary, Replication, Role};
use super::resource::{Common, Endpoint, LocationName, Managed, Resource, State};
use super::state::GcpState;
use crate::dataplane::BackendKey;
use crate::sim::Shared;
use crate::util::{random_digits, rfc3339_micros};

/// What an injected operation failure reports (google.rpc INTERNAL and its usual wording).
pub(super) fn injected_failure() -> OpResult {
    OpResult::Error(13, "Internal error encountered.".into())
}

pub(super) fn snapshot<T: Managed>(r: &Resource<T>) -> OpResult {
    OpResult::Response(Arc::new(Snapshot(r.clone())))
}

/// The API operation name faults and counters use: `clusters.create`, `instances.patch`.
pub(super) fn operation_name<T: Managed>(method: &str) -> String {
    format!("{}.{method}", T::COLLECTION)
}

pub fn lookup<'a, T: Managed>(
    gcp: &'a mut GcpState,
    name: &str,
) -> Result<&'a mut Resource<T>, RpcError> {
    T::table_mut(gcp)
        .get_mut(name)
        .ok_or_else(|| RpcError::not_found(name))
}

/// A create, update or delete as the service dedupes it: its `requestId` and when it came (on the
/// simulator's clock).
pub(super) struct Mutation {
    verb: Verb,
    target: String,
    request_id: Option<String>,
    now: Timestamp,
}

/// A request's standing: new, or a repeated `requestId` answered with its first operation.
pub(super) enum Begun {
    Fresh(Mutation),
    Replayed(Value),
}

impl Mutation {
    pub(super) fn begin(
        shared: &Shared,
        gcp: &mut GcpState,
        verb: Verb,
        target: &str,
        q: &Query,
    ) -> Result<Begun, RpcError> {
        let request_id = parse_request_id(q.get("requestId"))?;
        let now = shared.clock.now();
        if let Some(rid) = &request_id
            && let Some(op) = gcp.replay(
                verb,
                target,
                rid,
                shared.tunables().request_id_retention,
                now,
                q.ints(),
            )
        {
            return Ok(Begun::Replayed(op));
        }
        Ok(Begun::Fresh(Self {
            verb,
            target: target.to_owned(),
            request_id,
            now,
        }))
    }

    /// Keeps `op` as the answer to this request's id, and as an operation clients can read.
    pub(super) fn record(&self, gcp: &mut GcpState, op: Operation) {
        if let Some(rid) = &self.request_id {
            gcp.replays
                .remember(self.verb, &self.target, rid, &op.name, self.now);
        }
        gcp.operations.insert(op.name.clone(), op);
    }
}

/// A create request the product has parsed and checked.
#[derive(Debug)]
pub struct Draft<T: Managed> {
    pub spec: T::Spec,
    /// Where the new resource takes its data from.
    pub import: Option<ImportSource>,
    /// The `kms_key` field's path in the request, for its errors.
    pub kms_field: &'static str,
    /// A secondary of another resource (cross-region replication).
    pub secondary_of: Option<NewSecondary>,
}

/// `POST …/{collection}?{id_field}=ID`: the id checked by `validate`; `parse` reads the body (given
/// the new resource's name and the store, for a primary to replicate from) once the `requestId`
/// turned out to be new.
pub fn create_with_id<T: Managed>(
    shared: &Arc<Shared>,
    parent: &LocationName,
    q: &Query,
    id_field: &str,
    validate: fn(&str) -> Result<(), RpcError>,
    parse: impl FnOnce(&str, &GcpState) -> Result<Draft<T>, RpcError>,
) -> Result<Value, RpcError> {
    let field = snake_case(id_field);
    let id = q
        .get(id_field)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| RpcError::bad_field(&field, format!("{field} is required")))?;
    validate(id)?;
    let name = parent.child(T::COLLECTION, id)?;
    create::<T>(shared, parent, name, q, parse)
}

/// Creates resource `name`; `parse` reads the body once the `requestId` turned out to be new.
fn create<T: Managed>(
    shared: &Arc<Shared>,
    parent: &LocationName,
    name: String,
    q: &Query,
    parse: impl FnOnce(&str, &GcpState) -> Result<Draft<T>, RpcError>,
) -> Result<Value, RpcError> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let mutation = match Mutation::begin(shared, &mut gcp, Verb::Create, &name, q)? {
        Begun::Fresh(m) => m,
        Begun::Replayed(op) => return Ok(op),
    };
    let draft = parse(&name, &gcp)?;
    if draft.secondary_of.is_some() && draft.import.is_some() {
        return Err(RpcError::bad_field(
            &format!("{}.{}", T::NOUN, "managed_backup_source"),
            format!(
                "A secondary {} takes its data from its primary: it cannot import a backup",
                T::NOUN
            ),
        ));
    }
    if T::table(&gcp).contains_key(&name) {
        return Err(RpcError::new(
            Code::AlreadyExists,
            format!("Resource '{name}' already exists"),
        ));
    }
    // What the backend finds out while creating: a key of another region, or import files it
    // cannot read, fail the operation.
    let mut failure: Option<OpResult> = None;
    let primary = match draft.secondary_of {
        None => None,
        Some(NewSecondary::Of(p)) => Some(p),
        Some(NewSecondary::Missing(p)) => {
            // gcloud: "It must refer to an existing cluster. Otherwise, the create operation fails."
            failure = Some(OpResult::Error(
                5,
                format!("The primary {} {p} was not found.", T::NOUN),
            ));
            None
        }
    };
    if let Some(k) = T::settings(&draft.spec).kms_key
        && kms_key_location(k, draft.kms_field)? != parent.location
    {
        failure = Some(OpResult::Error(
            3,
            format!(
                "The KMS key {k} must be in the same region as the {} ({}).",
                T::NOUN,
                parent.location
            ),
        ));
    }
    let seed = match draft.import {
        None => Vec::new(),
        Some(ImportSource::Managed(backup)) => backups::import(&gcp, T::SERVICE, &backup)?,
        Some(ImportSource::Gcs(uris)) => {
            let mut files = Vec::new();
            for u in &uris {
                match shared.storage.get(u) {
                    Some(rdb) => files.push(rdb),
                    None => {
                        failure.get_or_insert(OpResult::Error(
                            9,
                            format!("Failed to import from {u}: the object was not found or is not readable."),
                        ));
                    }
                }
            }
            files
        }
    };
    let incarnation = shared.next_id();
    let key = BackendKey::Gcp(name.clone());
    let mut backend = T::backend(&draft.spec);
    if failure.is_none() {
        backend.seed = seed;
    }
    let endpoint = match shared.dataplane.provision(key.clone(), backend) {
        Ok(Some(port)) => Endpoint {
            host: "127.0.0.1".into(),
            port,
        },
        Ok(None) => Endpoint::fake(incarnation),
        Err(e) => {
            return Err(RpcError::new(
                Code::Internal,
                format!("could not open the {} endpoint: {e}", T::NOUN),
            ));
        }
    };
    let created = Timestamp::now();
    let resource = Resource::<T>::new(
        Common {
            name: name.clone(),
            parent: parent.clone(),
            create_time: created,
            update_time: created,
            state: State::CREATING,
            uid: T::new_uid(),
            endpoint,
            psc_ids: [
                random_digits(18).parse().unwrap_or(1),
                random_digits(18).parse().unwrap_or(2),
            ],
            incarnation,
            maintenance_schedule: None,
            backup_collection: None,
            backing_up: false,
            replication: Replication::default(),
        },
        draft.spec,
    );
    let op = Operation::new(T::SERVICE, parent, name.clone(), Verb::Create);
    let rendered = op.render(q.ints());
    let op_name = op.name.clone();
    mutation.record(&mut gcp, op);
    T::table_mut(&mut gcp).insert(name.clone(), resource);
    if let Some(p) = &primary {
        replication::attach::<T>(&mut gcp, p, &name);
    }
    drop(gcp);
    let fail = match failure {
        Some(f) => Some(f),
        None => shared
            .faults
            .take_operation_failure(&operation_name::<T>("create"))
            .then(injected_failure),
    };
    tracing::info!(name = %name, "memorystore {} creating", T::NOUN);

    let provisioned = shared.provisioning(crate::config::Transition::Create);
    let shared = shared.clone();
    let follow = primary.clone().filter(|_| fail.is_none());
    tokio::spawn(async move {
        let ready = async {
            if shared.dataplane.enabled() {
                shared.dataplane.wait_ready(&key).await;
            }
            // A secondary is ready once it serves a copy of its primary's data.
            if let Some(p) = &follow {
                replication::start_following(&shared, &name, p).await;
            }
        };
        tokio::join!(provisioned, ready);
        let creating = |gcp: &GcpState| {
            T::table(gcp).get(&name).is_some_and(|r| {
                r.common.incarnation == incarnation && r.common.state == State::CREATING
            })
        };
        if let Some(failure) = fail {
            // A failed create leaves nothing behind: the resource goes, the operation says why.
            shared.dataplane.stop(&key).await;
            let mut gcp = shared.gcp.lock().expect("gcp lock");
            if creating(&gcp) {
                T::table_mut(&mut gcp).remove(&name);
                replication::forget::<T>(&mut gcp, &name, primary.as_deref());
            }
            gcp.finish(&op_name, failure);
            tracing::info!(name = %name, "memorystore {} creation failed", T::NOUN);
            return;
        }
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        if !creating(&gcp) {
            return;
        }
        let Some(r) = T::table_mut(&mut gcp).get_mut(&name) else {
            return;
        };
        r.common.state = State::ACTIVE;
        let done = snapshot(&*r);
        gcp.finish(&op_name, done);
        tracing::info!(name = %name, "memorystore {} active", T::NOUN);
    });
    Ok(rendered)
}

pub fn get<T: Managed>(shared: &Shared, name: &str, q: &Query) -> Result<Value, RpcError> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    Ok(lookup::<T>(&mut gcp, name)?.render(q.ints()))
}

/// The page of the product's resources in `parent` (every region's under `-`), in `field`.
pub fn list<T: Managed>(
    shared: &Shared,
    parent: &LocationName,
    q: &Query,
    field: &str,
) -> Result<Value, RpcError> {
    let prefix = parent.prefix(T::COLLECTION);
    let gcp = shared.gcp.lock().expect("gcp lock");
    let ints = q.ints();
    let keep = |k: &str| parent.holds(T::COLLECTION, k);
    list_page(T::table(&gcp), &prefix, q, keep, field, |r| r.render(ints))
}

/// FAILED_PRECONDITION for a resource that is not ACTIVE or is being backed up.
pub fn busy<T: Managed>(r: &Resource<T>) -> RpcError {
    let c = &r.common;
    if c.backing_up {
        return RpcError::failed_precondition(format!(
            "The {} {} is being backed up: an operation is already in progress; retry when the backup is done",
            T::NOUN,
            c.name
        ));
    }
    RpcError::failed_precondition(format!(
        "The {} {} is in state {}: an operation is already in progress; retry when the {} is ACTIVE",
        T::NOUN,
        c.name,
        c.state.name(),
        T::NOUN
    ))
}

/// `PATCH`: the product has parsed the mask; `apply` makes the next spec from the current
/// resource and the body (refusing what the service refuses). The resource is UPDATING until the
/// provisioning delay has passed, then ACTIVE with the new spec (or, when the operation fails, the
/// old one).
pub fn patch<T: Managed>(
    shared: &Arc<Shared>,
    name: &str,
    q: &Query,
    apply: impl FnOnce(&Resource<T>) -> Result<T::Spec, RpcError>,
) -> Result<Value, RpcError> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let mutation = match Mutation::begin(shared, &mut gcp, Verb::Update, name, q)? {
        Begun::Fresh(m) => m,
        Begun::Replayed(op) => return Ok(op),
    };
    let r = lookup::<T>(&mut gcp, name)?;
    if r.common.state != State::ACTIVE || r.common.backing_up {
        return Err(busy(r));
    }
    let next = apply(r)?;
    let followers = propagation::<T>(&gcp, name, &next)?;
    for (f, _, spec) in &followers {
        if let Some(s) = T::table_mut(&mut gcp).get_mut(f) {
            s.common.state = State::UPDATING;
            s.pending = Some(spec.clone());
        }
    }
    let r = lookup::<T>(&mut gcp, name)?;
    r.common.state = State::UPDATING;
    r.pending = Some(next);
    let incarnation = r.common.incarnation;
    let op = Operation::new(T::SERVICE, &r.common.parent, name.to_owned(), Verb::Update);
    let rendered = op.render(q.ints());
    let op_name = op.name.clone();
    mutation.record(&mut gcp, op);
    drop(gcp);
    let fail = shared
        .faults
        .take_operation_failure(&operation_name::<T>("patch"));

    let provisioned = shared.provisioning(crate::config::Transition::Modify);
    let shared = shared.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        // The secondaries take the primary's new settings with it (or keep theirs with it).
        for (f, inc, _) in &followers {
            if let Some(s) = T::table_mut(&mut gcp)
                .get_mut(f)
                .filter(|s| s.common.incarnation == *inc && s.common.state == State::UPDATING)
            {
                s.common.state = State::ACTIVE;
                if let Some(next) = s.pending.take().filter(|_| !fail) {
                    s.spec = next;
                    s.common.update_time = Timestamp::now();
                }
            }
        }
        let Some(r) = T::table_mut(&mut gcp)
            .get_mut(&name)
            .filter(|r| r.common.incarnation == incarnation)
        else {
            return;
        };
        if r.common.state != State::UPDATING {
            return;
        }
        let next = r.pending.take();
        r.common.state = State::ACTIVE;
        if fail {
            // The update did not happen: the resource keeps its spec.
            gcp.finish(&op_name, injected_failure());
            return;
        }
        if let Some(next) = next {
            r.spec = next;
        }
        r.common.update_time = Timestamp::now();
        let done = snapshot(&*r);
        gcp.finish(&op_name, done);
    });
    Ok(rendered)
}

/// The secondaries that take a primary's changed settings (name, incarnation, new spec). A
/// secondary's own settings of that kind cannot change: they are the primary's.
fn propagation<T: Managed>(
    gcp: &GcpState,
    name: &str,
    next: &T::Spec,
) -> Result<Vec<(String, u64, T::Spec)>, RpcError> {
    let Some(r) = T::table(gcp).get(name) else {
        return Ok(Vec::new());
    };
    let before = T::shared_settings(&r.spec);
    let after = T::shared_settings(next);
    let Some((changed, _)) = after.iter().find(|kv| !before.contains(kv)) else {
        return Ok(Vec::new());
    };
    let rep = &r.common.replication;
    match rep.role {
        Role::Secondary => Err(RpcError::failed_precondition(format!(
            "{} of a secondary {noun} is set on its primary {noun} {} and propagated to its secondaries",
            snake_case(changed),
            replication::primary_of(rep).unwrap_or_default(),
            noun = T::NOUN
        ))),
        Role::Primary => rep
            .secondaries
            .iter()
            .filter_map(|s| T::table(gcp).get(&s.name))
            .map(|s| {
                if s.common.state != State::ACTIVE || s.common.backing_up {
                    return Err(busy(s));
                }
                Ok((
                    s.common.name.clone(),
                    s.common.incarnation,
                    T::inherit(next, &s.spec),
                ))
            })
            .collect(),
        Role::None | Role::Unspecified => Ok(Vec::new()),
    }
}

pub fn delete<T: Managed>(shared: &Arc<Shared>, name: &str, q: &Query) -> Result<Value, RpcError> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let mutation = match Mutation::begin(shared, &mut gcp, Verb::Delete, name, q)? {
        Begun::Fresh(m) => m,
        Begun::Replayed(op) => return Ok(op),
    };
    let r = lookup::<T>(&mut gcp, name)?;
    if r.common.backing_up {
        return Err(busy(r));
    }
    if T::settings(&r.spec).deletion_protected {
        let noun = T::NOUN;
        return Err(RpcError::failed_precondition(format!(
            "The {noun} is deletion protected. Please disable deletion protection to delete the {noun}. \
             To disable, update DeleteProtectionEnabled to false via the Update API"
        )));
    }
    if r.common.state != State::ACTIVE {
        return Err(busy(r));
    }
    let rep = &r.common.replication;
    if rep.role == Role::Primary && !rep.secondaries.is_empty() {
        let noun = T::NOUN;
        return Err(RpcError::failed_precondition(format!(
            "The {noun} {name} is the primary of secondary {noun}s ({}): detach or delete them first",
            rep.secondaries
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let primary = replication::primary_of(rep).map(str::to_owned);
    r.common.state = State::DELETING;
    let incarnation = r.common.incarnation;
    let op = Operation::new(T::SERVICE, &r.common.parent, name.to_owned(), Verb::Delete);
    let rendered = op.render(q.ints());
    let op_name = op.name.clone();
    mutation.record(&mut gcp, op);
    drop(gcp);

    let provisioned = shared.provisioning(crate::config::Transition::Delete);
    let shared = shared.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let is_current = |gcp: &GcpState| {
            T::table(gcp)
                .get(&name)
                .is_some_and(|r| r.common.incarnation == incarnation)
        };
        if !is_current(&shared.gcp.lock().expect("gcp lock")) {
            return;
        }
        shared.dataplane.stop(&BackendKey::Gcp(name.clone())).await;
        let mut gcp = shared.gcp.lock().expect("gcp lock");
        if is_current(&gcp) {
            T::table_mut(&mut gcp).remove(&name);
            // A deleted secondary leaves its primary's set.
            replication::forget::<T>(&mut gcp, &name, primary.as_deref());
        }
        gcp.finish(&op_name, OpResult::Empty);
        tracing::info!(name = %name, "memorystore {} deleted", T::NOUN);
    });
    Ok(rendered)
}

/// `GET …/certificateAuthority`: the simulator's CA when the resource encrypts in transit (and,
/// with `managed`, the CA is the resource's own rather than a shared one).
pub fn certificate_authority<T: Managed>(
    shared: &Shared,
    name: &str,
    managed: impl FnOnce(&Resource<T>) -> bool,
) -> Result<Value, RpcError> {
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let r = lookup::<T>(&mut gcp, name)?;
    let mut v = json!({"name": format!("{name}/certificateAuthority")});
    if T::settings(&r.spec).tls && managed(r) {
        v["managedServerCa"] = json!({"caCerts": [{"certificates": [shared.ca.pem()]}]});
    }
    Ok(v)
}

proto_enum!(RescheduleType, "RescheduleMaintenanceRequest.RescheduleType", {
    RESCHEDULE_TYPE_UNSPECIFIED = 0,
    IMMEDIATE = 1,
    SPECIFIC_TIME = 3,
});

/// `POST …:rescheduleMaintenance` `{rescheduleType, scheduleTime?}`: moves the published
/// maintenance (`IMMEDIATE`: now; `SPECIFIC_TIME`: to `scheduleTime`, at most a week after the
/// scheduled start). An operation responding with the resource.
pub fn reschedule_maintenance<T: Managed>(
    shared: &Shared,
    name: &str,
    q: &Query,
    body: &[u8],
) -> Result<Value, RpcError> {
    let mut o =
        Obj::from_body(body, "reschedule_maintenance_request")?.in_package(T::SERVICE.package());
    let kind = o.enumeration::<RescheduleType>("rescheduleType")?;
    let at = o.string("scheduleTime")?;
    o.ignore(&["name"]);
    o.finish()?;
    let now = shared.clock.now();
    let mut gcp = shared.gcp.lock().expect("gcp lock");
    let r = lookup::<T>(&mut gcp, name)?;
    let Some((start, end)) = r.common.maintenance_schedule else {
        return Err(RpcError::failed_precondition(format!(
            "The {} {name} has no scheduled maintenance to reschedule",
            T::NOUN
        )));
    };
    let length = end.duration_since(start);
    let new_start = match kind {
        Some(RescheduleType::IMMEDIATE) => now,
        Some(RescheduleType::SPECIFIC_TIME) => {
            let at = at.ok_or_else(|| {
                RpcError::bad_field(
                    "schedule_time",
                    "schedule_time is required when reschedule_type is SPECIFIC_TIME",
                )
            })?;
            let t: Timestamp = at.parse().map_err(|_| {
                RpcError::bad_field("schedule_time", format!("Invalid schedule_time {at:?}"))
            })?;
            let latest = start + std::time::Duration::from_secs(7 * 24 * 3600);
            if t < now || t > latest {
                return Err(RpcError::bad_field(
                    "schedule_time",
                    format!(
                        "schedule_time must be between now and a week after the scheduled start ({})",
                        rfc3339_micros(latest)
                    ),
                ));
            }
            t
        }
        _ => {
            return Err(RpcError::bad_field(
                "reschedule_type",
                "reschedule_type is required: IMMEDIATE or SPECIFIC_TIME",
            ));
        }
    };
    r.common.maintenance_schedule = Some((new_start, new_start + length));
    let mut op = Operation::new(
        T::SERVICE,
        &r.common.parent,
        name.to_owned(),
        Verb::RescheduleMaintenance,
    );
    op.finish(snapshot(&*r));
    let rendered = op.render(q.ints());
    gcp.operations.insert(op.name.clone(), op);
    Ok(rendered)
}
