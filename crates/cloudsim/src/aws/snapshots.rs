//! Snapshots: CreateSnapshot, CopySnapshot, DescribeSnapshots, DeleteSnapshot, the final snapshot of
//! DeleteReplicationGroup, and creating a group from a snapshot (`SnapshotName`) or from RDB
//! files in S3 (`SnapshotArns`).
//!
//! As the service model describes them: a snapshot is `creating` while it is taken (its group
//! shows `snapshotting`), then `available`; `restoring` while a group is created from it;
//! `deleting`, then gone. Names are stored lowercase and unique per region
//! (`SnapshotAlreadyExistsFault`); a missing one is `SnapshotNotFoundFault` (404); deleting one
//! that is not `available` is `InvalidSnapshotState`. A group restored from a snapshot must have
//! the snapshot's number of node groups. The data is the real redis-server's, as an RDB file.

use jiff::Timestamp;
use tokio::sync::oneshot;

use super::common::{Ctx, key, page_args, parse_tags};
use super::error::AwsError;
use super::model::{Engine, Region, ReplicationGroup, Snapshot, Tags};
use super::params::Params;
use super::windows;
use super::xml::El;
use crate::dataplane::Rdb;
use crate::util::{page_start, paginate};

fn not_found(name: &str) -> AwsError {
    AwsError::new(
        "SnapshotNotFoundFault",
        404,
        format!("Snapshot {name} not found."),
    )
}

fn already_exists(name: &str) -> AwsError {
    AwsError::new(
        "SnapshotAlreadyExistsFault",
        400,
        format!("Snapshot {name} already exists."),
    )
}

fn snapshot_name(raw: &str) -> Result<String, AwsError> {
    let ok = !raw.is_empty()
        && raw.len() <= 255
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(AwsError::invalid_value(format!(
            "Invalid snapshot name {raw:?}."
        )))
    }
}

fn arn(ctx: &Ctx, name: &str) -> String {
    format!(
        "arn:aws:elasticache:{}:{}:snapshot:{name}",
        ctx.region, ctx.shared.config.aws_account_id
    )
}

/// Takes a snapshot of `rg` now: the snapshot is `creating`; the data is read at once (the
/// returned receiver fires once it is), the snapshot becomes `available` after the
/// provisioning delay.
fn take(
    ctx: &Ctx,
    region: &mut Region,
    rg: &ReplicationGroup,
    name: String,
    kms: Option<String>,
    tags: Tags,
) -> (El, oneshot::Receiver<()>) {
    let incarnation = ctx.shared.next_id();
    let snap = Snapshot {
        arn: arn(ctx, &name),
        name: name.clone(),
        status: "creating",
        source: "manual",
        rg_id: rg.id.clone(),
        spec: rg.spec.clone(),
        rg_create_time: rg.create_time,
        create_time: Timestamp::now(),
        kms_key_id: kms.or_else(|| rg.spec.kms_key_id.clone()),
        data: None,
        restoring: 0,
        tags,
        incarnation,
    };
    let rendered = snap.xml();
    region.snapshots.insert(name.clone(), snap);
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    let backend = key(ctx.region, &rg.id);
    let rg_id = rg.id.clone();
    let provisioned = shared.provisioning(crate::config::Transition::Create);
    let (captured, on_captured) = oneshot::channel();
    tokio::spawn(async move {
        let data = shared.dataplane.snapshot(&backend).await.map(Rdb::new);
        let _ = captured.send(());
        provisioned.await;
        let mut aws = shared.aws.lock().expect("aws lock");
        let Some(region) = aws.regions.get_mut(&region_name) else {
            return;
        };
        if let Some(s) = region.snapshots.get_mut(&name)
            && s.incarnation == incarnation
            && s.status == "creating"
        {
            s.data = data;
            s.status = "available";
            tracing::info!(snapshot = %name, "snapshot available");
            if let Some(member) = region
                .rgs
                .get(&rg_id)
                .and_then(|rg| rg.member_clusters().into_iter().next())
            {
                region.events.record(
                    super::events::SourceType::CacheCluster,
                    &member,
                    format!(
                        "Snapshot succeeded for snapshot with ID '{name}' of replication group with ID '{rg_id}'"
                    ),
                );
            }
        }
        if let Some(rg) = region.rgs.get_mut(&rg_id)
            && rg.status == "snapshotting"
        {
            rg.status = "available";
        }
    });
    (rendered, on_captured)
}

pub fn create_snapshot(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = snapshot_name(p.required("SnapshotName")?)?;
    let tags = parse_tags(p)?;
    let kms = p.get("KmsKeyId").map(str::to_owned);
    if let Some(k) = &kms {
        windows::kms_key(k)?;
    }
    ctx.with_region(|region| {
        let rg_id = match (p.get("ReplicationGroupId"), p.get("CacheClusterId")) {
            (Some(id), None) => id.to_ascii_lowercase(),
            (None, Some(cluster)) => {
                let cluster = cluster.to_ascii_lowercase();
                region
                    .rgs
                    .values()
                    .find(|rg| rg.member_clusters().contains(&cluster))
                    .map(|rg| rg.id.clone())
                    .ok_or_else(|| {
                        AwsError::new(
                            "CacheClusterNotFound",
                            404,
                            format!("CacheCluster {cluster} not found."),
                        )
                    })?
            }
            _ => {
                return Err(AwsError::invalid_combination(
                    "Specify either ReplicationGroupId or CacheClusterId.",
                ));
            }
        };
        let rg = region
            .rgs
            .get(&rg_id)
            .ok_or_else(|| AwsError::rg_not_found(&rg_id))?
            .clone();
        if rg.status != "available" {
            return Err(AwsError::rg_state(&rg_id, rg.status));
        }
        if region.snapshots.contains_key(&name) {
            return Err(already_exists(&name));
        }
        let (rendered, _) = take(ctx, region, &rg, name, kms, tags);
        if let Some(rg) = region.rgs.get_mut(&rg_id) {
            rg.status = "snapshotting";
        }
        Ok(vec![rendered])
    })
}

/// CopySnapshot: a manual copy of an `available` snapshot under a new name (`creating`, then
/// `available` after the provisioning delay), with its data; or, with `TargetBucket`, an export
/// of its RDB file to the simulated S3 as `s3://BUCKET/TARGET-0001.rdb`.
pub fn copy_snapshot(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let source = p.required("SourceSnapshotName")?.to_ascii_lowercase();
    let target = snapshot_name(p.required("TargetSnapshotName")?)?;
    let kms = p.get("KmsKeyId").map(str::to_owned);
    if let Some(k) = &kms {
        windows::kms_key(k)?;
    }
    let bucket = p.get("TargetBucket").map(str::to_owned);
    let tags = parse_tags(p)?;
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Create);
    let incarnation = ctx.shared.next_id();
    let (rendered, export) = ctx.with_region(|region| {
        let s = region
            .snapshots
            .get(&source)
            .ok_or_else(|| not_found(&source))?;
        if s.status != "available" {
            return Err(AwsError::new(
                "InvalidSnapshotState",
                400,
                format!(
                    "Snapshot {source} is not in the available state (it is {}).",
                    s.status
                ),
            ));
        }
        if let Some(b) = &bucket {
            // An export: the copy is a file in the bucket, not a snapshot of the region.
            let data = s.data.clone();
            return Ok((s.xml(), Some((format!("s3://{b}/{target}-0001.rdb"), data))));
        }
        if region.snapshots.contains_key(&target) {
            return Err(already_exists(&target));
        }
        let copy = Snapshot {
            name: target.clone(),
            arn: arn(ctx, &target),
            status: "creating",
            source: "manual",
            create_time: Timestamp::now(),
            kms_key_id: kms.or_else(|| s.kms_key_id.clone()),
            restoring: 0,
            tags,
            incarnation,
            ..s.clone()
        };
        let rendered = copy.xml();
        region.snapshots.insert(target.clone(), copy);
        Ok((rendered, None))
    })?;
    if let Some((object, data)) = export {
        if let Some(rdb) = data {
            ctx.shared.storage.put(object, rdb);
        }
        return Ok(vec![rendered]);
    }
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(s) = aws
            .regions
            .get_mut(&region_name)
            .and_then(|r| r.snapshots.get_mut(&target))
            && s.incarnation == incarnation
            && s.status == "creating"
        {
            s.status = "available";
        }
    });
    Ok(vec![rendered])
}

/// The final snapshot of a group being deleted (`FinalSnapshotIdentifier`), checked before the
/// delete starts so that a refused name leaves the group alone.
pub fn check_final(region: &Region, raw: &str) -> Result<String, AwsError> {
    let name = snapshot_name(raw)?;
    if region.snapshots.contains_key(&name) {
        return Err(already_exists(&name));
    }
    Ok(name)
}

/// Takes the final snapshot of a group whose delete starts now; the group's data must not go
/// before the receiver fires.
pub fn take_final(
    ctx: &Ctx,
    region: &mut Region,
    rg: &ReplicationGroup,
    name: String,
) -> oneshot::Receiver<()> {
    take(ctx, region, rg, name, None, Vec::new()).1
}

pub fn describe_snapshots(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    // DescribeSnapshots pages by at most 50.
    let (size, after) = page_args(p, 50)?;
    let source = match p.get("SnapshotSource") {
        None => None,
        Some("user") => Some("manual"),
        Some("system") => Some("automated"),
        Some(other) => {
            return Err(AwsError::invalid_value(format!(
                "Invalid SnapshotSource {other:?}: use system or user."
            )));
        }
    };
    let rg = p.get("ReplicationGroupId").map(str::to_ascii_lowercase);
    let cluster = p.get("CacheClusterId").map(str::to_ascii_lowercase);
    ctx.with_region(|region| {
        if let Some(name) = p.get("SnapshotName") {
            // A name that matches nothing is an empty list, not SnapshotNotFoundFault: AWS's
            // own controller (and its tests) wait for a deleted snapshot by an empty answer.
            let name = name.to_ascii_lowercase();
            let found = region.snapshots.get(&name).map(Snapshot::xml);
            return Ok(vec![El::node("Snapshots", found.into_iter().collect())]);
        }
        if let Some(c) = &cluster
            && !region
                .rgs
                .values()
                .any(|rg| rg.member_clusters().contains(c))
            && !region
                .snapshots
                .values()
                .any(|s| s.rg_id.len() < c.len() && c.starts_with(&s.rg_id))
        {
            return Err(AwsError::new(
                "CacheClusterNotFound",
                404,
                format!("CacheCluster {c} not found."),
            ));
        }
        let items = region
            .snapshots
            .range(page_start("", after.as_deref())..)
            .filter(|(_, s)| rg.as_ref().is_none_or(|id| &s.rg_id == id))
            .filter(|(_, s)| {
                cluster
                    .as_ref()
                    .is_none_or(|c| c.starts_with(&format!("{}-", s.rg_id)))
            })
            .filter(|(_, s)| source.is_none_or(|src| s.source == src))
            .map(|(k, s)| (k.clone(), s));
        let (page, next) = paginate(items, after.as_deref(), size);
        let mut out = vec![El::node(
            "Snapshots",
            page.into_iter().map(Snapshot::xml).collect(),
        )];
        if let Some(m) = next {
            out.push(El::text("Marker", m));
        }
        Ok(out)
    })
}

pub fn delete_snapshot(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p.required("SnapshotName")?.to_ascii_lowercase();
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Delete);
    let (rendered, incarnation) = ctx.with_region(|region| {
        let s = region
            .snapshots
            .get_mut(&name)
            .ok_or_else(|| not_found(&name))?;
        if s.status != "available" {
            return Err(AwsError::new(
                "InvalidSnapshotState",
                400,
                format!(
                    "Snapshot {name} is not in the available state (it is {}).",
                    s.status
                ),
            ));
        }
        s.status = "deleting";
        Ok((s.xml(), s.incarnation))
    })?;
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(region) = aws.regions.get_mut(&region_name)
            && region
                .snapshots
                .get(&name)
                .is_some_and(|s| s.incarnation == incarnation)
        {
            region.snapshots.remove(&name);
        }
    });
    Ok(vec![rendered])
}

/// What a CreateReplicationGroup restores from.
pub struct Restore {
    /// The snapshot named by `SnapshotName`.
    pub snapshot: Option<String>,
    /// The snapshot's engine and version (a restored group keeps them unless named).
    pub engine: Option<(Engine, String)>,
    /// The snapshot's number of node groups, which the new group must keep.
    pub node_groups: Option<usize>,
    /// RDB files in S3 (`SnapshotArns`).
    pub s3: Vec<Rdb>,
}

/// Reads `SnapshotName` / `SnapshotArns` of a CreateReplicationGroup.
pub fn restore_source(ctx: &Ctx, p: &Params) -> Result<Option<Restore>, AwsError> {
    let name = p.get("SnapshotName");
    let arns = p.list("SnapshotArns", "SnapshotArn");
    match (name, arns) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(AwsError::invalid_combination(
            "Specify either SnapshotName or SnapshotArns, not both.",
        )),
        (Some(n), None) => {
            let name = n.to_ascii_lowercase();
            ctx.with_region(|region| {
                let s = region
                    .snapshots
                    .get(&name)
                    .ok_or_else(|| not_found(&name))?;
                Ok(Some(Restore {
                    engine: Some((s.spec.engine, s.spec.engine_version.clone())),
                    node_groups: Some(s.spec.shards.len()),
                    snapshot: Some(name),
                    s3: Vec::new(),
                }))
            })
        }
        (None, Some(arns)) => {
            let mut files = Vec::new();
            for a in arns {
                let object = a
                    .strip_prefix("arn:aws:s3:::")
                    .filter(|o| o.contains('/') && !o.contains(','))
                    .ok_or_else(|| {
                        AwsError::invalid_value(format!(
                            "Invalid SnapshotArns value {a:?}: use arn:aws:s3:::BUCKET/KEY."
                        ))
                    })?;
                let rdb = ctx
                    .shared
                    .storage
                    .get(&format!("s3://{object}"))
                    .ok_or_else(|| {
                        AwsError::invalid_value(format!(
                            "The S3 object {a} does not exist or ElastiCache cannot read it."
                        ))
                    })?;
                files.push(rdb);
            }
            Ok(Some(Restore {
                snapshot: None,
                engine: None,
                node_groups: None,
                s3: files,
            }))
        }
    }
}

/// Marks the snapshot `restoring` and returns the data the new group starts with.
pub fn begin_restore(region: &mut Region, restore: &Restore) -> Result<Vec<Rdb>, AwsError> {
    let Some(name) = &restore.snapshot else {
        return Ok(restore.s3.clone());
    };
    let s = region
        .snapshots
        .get_mut(name)
        .ok_or_else(|| not_found(name))?;
    if !matches!(s.status, "available" | "restoring") {
        return Err(AwsError::new(
            "InvalidSnapshotState",
            400,
            format!(
                "Snapshot {name} is not in the available state (it is {}).",
                s.status
            ),
        ));
    }
    s.status = "restoring";
    s.restoring += 1;
    Ok(s.data.clone().into_iter().collect())
}

/// The group created from `name` is ready: the snapshot is `available` again once no other
/// group restores from it.
pub fn end_restore(region: &mut Region, name: &str) {
    if let Some(s) = region.snapshots.get_mut(name) {
        s.restoring = s.restoring.saturating_sub(1);
        if s.restoring == 0 && s.status == "restoring" {
            s.status = "available";
        }
    }
}
