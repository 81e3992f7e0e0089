//! Serverless cache snapshots: CreateServerlessCacheSnapshot, DescribeServerlessCacheSnapshots,
//! CopyServerlessCacheSnapshot, ExportServerlessCacheSnapshot, DeleteServerlessCacheSnapshot, the
//! final snapshot of DeleteServerlessCache, and the data a cache created with
//! `SnapshotArnsToRestore` starts with.
//!
//! A snapshot is `creating` while it is taken (or copied), then `available`; `deleting`, then gone.
//! Names are stored lowercase and unique per region (`ServerlessCacheSnapshotAlreadyExistsFault`);
//! a missing one is `ServerlessCacheSnapshotNotFoundFault` (404); using one that is not `available`
//! is `InvalidServerlessCacheSnapshotStateFault`. The data is the real redis-server's, as an RDB
//! file.

use jiff::Timestamp;
use tokio::sync::oneshot;

use super::actions::{self, Ctx};
use super::error::AwsError;
use super::model::{Engine, Region, Tags};
use super::params::Params;
use super::serverless::{self, ServerlessCache, Version};
use super::windows;
use super::xml::{El, opt};
use crate::dataplane::Rdb;
use crate::util::{paginate, rfc3339_millis};

#[derive(Debug, Clone)]
pub struct ServerlessSnapshot {
    pub name: String,
    pub arn: String,
    /// `creating`, `available`, `deleting`.
    pub status: &'static str,
    /// `manual` (the only kind cloudsim takes; `automated` ones come from daily snapshots).
    pub snapshot_type: &'static str,
    pub cache_name: String,
    /// The cache's engine and version when the snapshot was taken.
    pub version: Version,
    pub create_time: Timestamp,
    pub kms_key_id: Option<String>,
    /// The data as an RDB file (none without Redis behind the cache).
    pub data: Option<Rdb>,
    pub tags: Tags,
    pub incarnation: u64,
}

impl ServerlessSnapshot {
    /// The `ServerlessCacheSnapshot` shape of the model.
    pub fn xml_fields(&self) -> Vec<El> {
        let mut f = vec![
            El::text("ServerlessCacheSnapshotName", &self.name),
            El::text("ARN", &self.arn),
        ];
        opt(&mut f, "KmsKeyId", self.kms_key_id.as_ref());
        f.push(El::text("SnapshotType", self.snapshot_type));
        f.push(El::text("Status", self.status));
        f.push(El::text("CreateTime", rfc3339_millis(self.create_time)));
        if self.status != "creating" {
            f.push(El::text(
                "BytesUsedForCache",
                self.data.as_ref().map_or(0, |d| d.len()),
            ));
        }
        f.push(El::node(
            "ServerlessCacheConfiguration",
            vec![
                El::text("ServerlessCacheName", &self.cache_name),
                El::text("Engine", self.version.engine.as_str()),
                El::text("MajorEngineVersion", self.version.major),
            ],
        ));
        f
    }

    pub fn xml(&self) -> El {
        El::node("ServerlessCacheSnapshot", self.xml_fields())
    }
}

pub(crate) fn not_found(name: &str) -> AwsError {
    AwsError::new(
        "ServerlessCacheSnapshotNotFoundFault",
        404,
        format!("Serverless cache snapshot {name} not found."),
    )
}

fn invalid_state(name: &str, status: &str) -> AwsError {
    AwsError::new(
        "InvalidServerlessCacheSnapshotStateFault",
        400,
        format!("Serverless cache snapshot {name} is not in the available state (it is {status})."),
    )
}

/// A snapshot name: 1–255 letters, digits, `-`, `.` and `:`; stored lowercase.
pub(crate) fn snapshot_name(raw: &str) -> Result<String, AwsError> {
    let ok = !raw.is_empty()
        && raw.len() <= 255
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(AwsError::invalid_value(format!(
            "Invalid serverless cache snapshot name {raw:?}: use 1 to 255 letters, digits, hyphens, dots or colons."
        )))
    }
}

/// Refuses a snapshot name already taken in the region.
pub(crate) fn check_free(region: &Region, name: &str) -> Result<(), AwsError> {
    if region.serverless.snapshots.contains_key(name) {
        return Err(AwsError::new(
            "ServerlessCacheSnapshotAlreadyExistsFault",
            400,
            format!("Serverless cache snapshot {name} already exists."),
        ));
    }
    Ok(())
}

fn arn(ctx: &Ctx, name: &str) -> String {
    format!(
        "arn:aws:elasticache:{}:{}:serverlesscachesnapshot:{name}",
        ctx.region, ctx.shared.config.aws_account_id
    )
}

/// The snapshot by name, which must be `available`.
fn available<'a>(region: &'a Region, name: &str) -> Result<&'a ServerlessSnapshot, AwsError> {
    let s = region
        .serverless
        .snapshots
        .get(name)
        .ok_or_else(|| not_found(name))?;
    if s.status != "available" {
        return Err(invalid_state(name, s.status));
    }
    Ok(s)
}

/// Makes `snapshot` `available` after the provisioning delay, with `data` once it is read.
fn complete(
    ctx: &Ctx,
    name: String,
    incarnation: u64,
    data: impl Future<Output = Option<Rdb>> + Send + 'static,
) {
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    let provisioned = shared.provisioning(crate::config::Transition::Create);
    tokio::spawn(async move {
        let (data, ()) = tokio::join!(data, provisioned);
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(s) = aws
            .regions
            .get_mut(&region_name)
            .and_then(|r| r.serverless.snapshots.get_mut(&name))
            .filter(|s| s.incarnation == incarnation && s.status == "creating")
        {
            s.data = data;
            s.status = "available";
            tracing::info!(serverless_cache_snapshot = %name, "serverless cache snapshot available");
        }
    });
}

/// Takes a snapshot of `cache` now: `creating` until the provisioning delay has passed. The
/// receiver fires once the data is read (the cache's Redis must not stop before).
pub(crate) fn take(
    ctx: &Ctx,
    region: &mut Region,
    cache: &ServerlessCache,
    name: String,
    kms_key_id: Option<String>,
    tags: Tags,
) -> (El, oneshot::Receiver<()>) {
    let incarnation = ctx.shared.next_id();
    let snap = ServerlessSnapshot {
        arn: arn(ctx, &name),
        name: name.clone(),
        status: "creating",
        snapshot_type: "manual",
        cache_name: cache.name.clone(),
        version: cache.spec.version,
        create_time: Timestamp::now(),
        kms_key_id: kms_key_id.or_else(|| cache.spec.kms_key_id.clone()),
        data: None,
        tags,
        incarnation,
    };
    let rendered = snap.xml();
    region.serverless.snapshots.insert(name.clone(), snap);
    let (captured, on_captured) = oneshot::channel();
    let shared = ctx.shared.clone();
    let backend = serverless::key(ctx.region, &cache.name);
    complete(ctx, name, incarnation, async move {
        let data = shared.dataplane.snapshot(&backend).await.map(Rdb::new);
        let _ = captured.send(());
        data
    });
    (rendered, on_captured)
}

fn kms(p: &Params) -> Result<Option<String>, AwsError> {
    let k = p.get("KmsKeyId").map(str::to_owned);
    if let Some(k) = &k {
        windows::kms_key(k)?;
    }
    Ok(k)
}

pub fn create(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = snapshot_name(p.required("ServerlessCacheSnapshotName")?)?;
    let cache_name = p.required("ServerlessCacheName")?.to_ascii_lowercase();
    let kms_key_id = kms(p)?;
    let tags = actions::tags(p)?;
    ctx.with_region(|region| {
        let cache = region
            .serverless
            .caches
            .get(&cache_name)
            .ok_or_else(|| serverless::not_found(&cache_name))?
            .clone();
        if cache.status != serverless::Status::Available {
            return Err(AwsError::new(
                "InvalidServerlessCacheStateFault",
                400,
                format!(
                    "Serverless cache {cache_name} must be in available state to take a snapshot; it is {}.",
                    cache.status.as_str()
                ),
            ));
        }
        check_free(region, &name)?;
        Ok(vec![take(ctx, region, &cache, name, kms_key_id, tags).0])
    })
}

pub fn copy(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let source = p
        .required("SourceServerlessCacheSnapshotName")?
        .to_ascii_lowercase();
    let target = snapshot_name(p.required("TargetServerlessCacheSnapshotName")?)?;
    let kms_key_id = kms(p)?;
    let tags = actions::tags(p)?;
    let incarnation = ctx.shared.next_id();
    let (rendered, data) = ctx.with_region(|region| {
        let s = available(region, &source)?.clone();
        check_free(region, &target)?;
        let copy = ServerlessSnapshot {
            arn: arn(ctx, &target),
            name: target.clone(),
            status: "creating",
            kms_key_id: kms_key_id.or(s.kms_key_id),
            data: None,
            tags,
            incarnation,
            ..s
        };
        let rendered = copy.xml();
        region.serverless.snapshots.insert(target.clone(), copy);
        Ok::<_, AwsError>((rendered, s.data))
    })?;
    complete(ctx, target, incarnation, async move { data });
    Ok(vec![rendered])
}

/// S3 bucket names: 3–63 lowercase letters, digits, dots and hyphens, starting and ending with a
/// letter or digit.
fn bucket(raw: &str) -> Result<&str, AwsError> {
    let b = raw.as_bytes();
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = (3..=63).contains(&b.len())
        && b.iter().all(|c| edge(*c) || matches!(c, b'.' | b'-'))
        && edge(b[0])
        && edge(b[b.len() - 1]);
    if ok {
        Ok(raw)
    } else {
        Err(AwsError::invalid_value(format!(
            "Invalid S3BucketName {raw:?}."
        )))
    }
}

/// Writes the snapshot's RDB file to `s3://BUCKET/<snapshot name>.rdb` in the simulated store.
pub fn export(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p
        .required("ServerlessCacheSnapshotName")?
        .to_ascii_lowercase();
    let bucket = bucket(p.required("S3BucketName")?)?;
    ctx.with_region(|region| {
        let s = available(region, &name)?;
        if let Some(data) = &s.data {
            ctx.shared
                .storage
                .put(format!("s3://{bucket}/{name}.rdb"), data.clone());
        }
        Ok(vec![s.xml()])
    })
}

pub fn delete(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let name = p
        .required("ServerlessCacheSnapshotName")?
        .to_ascii_lowercase();
    let provisioned = ctx.shared.provisioning(crate::config::Transition::Delete);
    let (rendered, incarnation) = ctx.with_region(|region| {
        available(region, &name)?;
        let s = region
            .serverless
            .snapshots
            .get_mut(&name)
            .expect("the snapshot exists");
        s.status = "deleting";
        Ok::<_, AwsError>((s.xml(), s.incarnation))
    })?;
    let shared = ctx.shared.clone();
    let region_name = ctx.region.to_owned();
    tokio::spawn(async move {
        provisioned.await;
        let mut aws = shared.aws.lock().expect("aws lock");
        if let Some(region) = aws.regions.get_mut(&region_name)
            && region
                .serverless
                .snapshots
                .get(&name)
                .is_some_and(|s| s.incarnation == incarnation)
        {
            region.serverless.snapshots.remove(&name);
        }
    });
    Ok(vec![rendered])
}

pub fn describe(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    // "The default is 50. The Validation Constraints are a maximum of 50."
    let (size, after) = serverless::page_args(p, 50)?;
    let snapshot_type = match p.get("SnapshotType") {
        None => None,
        Some(t @ ("automated" | "manual")) => Some(t),
        Some(other) => {
            return Err(AwsError::invalid_value(format!(
                "Invalid SnapshotType {other:?}: use automated or manual."
            )));
        }
    };
    let cache = p.get("ServerlessCacheName").map(str::to_ascii_lowercase);
    ctx.with_region(|region| {
        let all = &region.serverless.snapshots;
        if let Some(name) = p.get("ServerlessCacheSnapshotName") {
            let name = name.to_ascii_lowercase();
            let s = all.get(&name).ok_or_else(|| not_found(&name))?;
            return Ok(vec![El::node("ServerlessCacheSnapshots", vec![s.xml()])]);
        }
        if let Some(c) = &cache
            && !region.serverless.caches.contains_key(c)
            && !all.values().any(|s| &s.cache_name == c)
        {
            return Err(serverless::not_found(c));
        }
        let items = all
            .iter()
            .filter(|(_, s)| cache.as_ref().is_none_or(|c| &s.cache_name == c))
            .filter(|(_, s)| snapshot_type.is_none_or(|t| s.snapshot_type == t))
            .map(|(k, s)| (k.clone(), s));
        let (page, next) = paginate(items, after.as_deref(), size);
        let mut out = vec![El::node(
            "ServerlessCacheSnapshots",
            page.into_iter().map(ServerlessSnapshot::xml).collect(),
        )];
        opt(&mut out, "NextToken", next);
        Ok(out)
    })
}

/// The tags of a snapshot by name; it must be `available` ("ListTagsForResource fails when
/// snapshot is still creating", as ACK's controller notes).
pub(crate) fn tags_of<'a>(region: &'a mut Region, name: &str) -> Result<&'a mut Tags, AwsError> {
    let s = region
        .serverless
        .snapshots
        .get_mut(name)
        .ok_or_else(|| not_found(name))?;
    if s.status != "available" {
        return Err(invalid_state(name, s.status));
    }
    Ok(&mut s.tags)
}

/// The RDB files `SnapshotArnsToRestore` names, for a new cache running `version`: serverless
/// cache snapshots (`…:serverlesscachesnapshot:NAME`), snapshots of node-based clusters
/// (`…:snapshot:NAME`) and RDB files in S3 (`arn:aws:s3:::BUCKET/KEY`).
pub(crate) fn restore_data(
    ctx: &Ctx,
    region: &Region,
    arns: &[String],
    version: Version,
) -> Result<Vec<Rdb>, AwsError> {
    let mut out = Vec::new();
    for a in arns {
        if let Some(object) = a.strip_prefix("arn:aws:s3:::") {
            if !object.contains('/') {
                return Err(AwsError::invalid_value(format!(
                    "Invalid SnapshotArnsToRestore value {a:?}: use arn:aws:s3:::BUCKET/KEY."
                )));
            }
            let rdb = ctx
                .shared
                .storage
                .get(&format!("s3://{object}"))
                .ok_or_else(|| {
                    AwsError::invalid_value(format!(
                        "The S3 object {a} does not exist or ElastiCache cannot read it."
                    ))
                })?;
            out.push(rdb);
            continue;
        }
        let parts: Vec<&str> = a.splitn(7, ':').collect();
        let [
            "arn",
            partition,
            "elasticache",
            arn_region,
            account,
            kind,
            name,
        ] = parts.as_slice()
        else {
            return Err(AwsError::invalid_value(format!(
                "Invalid SnapshotArnsToRestore value {a:?}."
            )));
        };
        if !partition.starts_with("aws")
            || *arn_region != ctx.region
            || *account != ctx.shared.config.aws_account_id.as_str()
        {
            return Err(AwsError::invalid_value(format!(
                "Snapshot {a} is not in this account and region."
            )));
        }
        let name = name.to_ascii_lowercase();
        let (engine, data) = match *kind {
            "serverlesscachesnapshot" => {
                let s = available(region, &name)?;
                (s.version.engine, s.data.clone())
            }
            "snapshot" => {
                let s = region.snapshots.get(&name).ok_or_else(|| {
                    AwsError::invalid_value(format!("Snapshot {name} not found."))
                })?;
                if s.status != "available" {
                    return Err(AwsError::invalid_value(format!(
                        "Snapshot {name} is not in the available state (it is {}).",
                        s.status
                    )));
                }
                (s.spec.engine, s.data.clone())
            }
            _ => {
                return Err(AwsError::invalid_value(format!(
                    "Invalid SnapshotArnsToRestore value {a:?}: name a serverless cache snapshot, a snapshot or an S3 object."
                )));
            }
        };
        if engine == Engine::Valkey && version.engine == Engine::Redis {
            return Err(AwsError::invalid_combination(format!(
                "Snapshot {name} holds valkey data, which a redis serverless cache cannot restore."
            )));
        }
        out.extend(data);
    }
    Ok(out)
}
