//! Day-2 settings of a `RedisCluster`: maintenance windows, backups and restores, encryption
//! keys, AUTH tokens — the spec shapes, their parsers, and what status reports about them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
// Used inside the derive attributes, which rustc does not count as a use.
use kube::KubeSchema;
#[allow(unused_imports)]
use kube::core::Rule;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Provider;
pub use crate::model::lifecycle::Weekday;
use crate::model::lifecycle::{
    AwsRestore, GCP_DEFAULT_RETENTION_DAYS, GcpAutomatedBackup, GcpRestore, WeeklyWindow,
};
use crate::rules;
use crate::validate::FieldErrors;

fn default_true() -> bool {
    true
}

/// The weekly window in which the cloud may restart nodes for maintenance, in UTC. One shape
/// for both clouds: gcp `maintenancePolicy.weeklyMaintenanceWindow` (a one-hour window starting
/// on the hour), aws `PreferredMaintenanceWindow` (at least 60 minutes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceWindow {
    /// The day the window starts.
    pub day: Weekday,

    /// When it starts, `HH:MM` on a 24-hour clock in UTC. gcp: on the hour (`HH:00`).
    #[schemars(length(min = 5, max = 5), pattern(rules::TIME_OF_DAY_PATTERN))]
    pub start_time: String,

    /// How long it lasts: `1h` (the default, and the only length gcp offers) up to `24h` (aws).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 8), pattern(rules::WINDOW_DURATION_PATTERN))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1h') && duration(self) <= duration('24h')")
        .message("maintenanceWindow.duration must be between 1h and 24h"))]
    pub duration: Option<String>,
}

/// The longest maintenance window the operator asks for (a day).
pub const MAINTENANCE_MAX_MINUTES: u32 = 24 * 60;

impl MaintenanceWindow {
    /// Check the window against `provider`'s rules and parse it.
    pub fn parse(
        &self,
        provider: Provider,
        field: &str,
        errs: &mut FieldErrors,
    ) -> Option<WeeklyWindow> {
        let start = errs.check(
            format!("{field}.startTime"),
            rules::time_of_day(&self.start_time),
        );
        let minutes = match &self.duration {
            None => Some(60),
            Some(d) => errs.check(
                format!("{field}.duration"),
                rules::window_minutes(d, 60, MAINTENANCE_MAX_MINUTES),
            ),
        };
        if provider == Provider::Gcp {
            if start.is_some_and(|s| s % 60 != 0) {
                errs.broken(
                    format!("{field}.startTime"),
                    "must be on the hour (HH:00) for provider gcp: Memorystore windows start on the hour",
                );
            }
            if minutes.is_some_and(|m| m != 60) {
                errs.broken(
                    format!("{field}.duration"),
                    "must be 1h for provider gcp: Memorystore maintenance windows last one hour",
                );
            }
        }
        Some(WeeklyWindow {
            day: self.day,
            start: start?,
            minutes: minutes?,
        })
    }
}

/// Memorystore automated backups (`automatedBackupConfig`): one backup a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!self.enabled || has(self.startTime)")
    .message("gcp.automatedBackup.startTime is required while automated backups are enabled")
    .field_path(".startTime"))]
pub struct GcpAutomatedBackupSpec {
    /// `false` turns automated backups off (Memorystore's `DISABLED`). Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,

    /// When the daily backup starts, `HH:00` in UTC (Memorystore: "the start of an hour").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 5, max = 5), pattern(rules::HOUR_OF_DAY_PATTERN))]
    pub start_time: Option<String>,

    /// How many days automated backups are kept: 1–365 (Memorystore's default 35).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 365))]
    pub retention_days: Option<i32>,
}

impl GcpAutomatedBackupSpec {
    pub fn parse(&self, field: &str, errs: &mut FieldErrors) -> Option<GcpAutomatedBackup> {
        let start = match (&self.start_time, self.enabled) {
            (Some(t), _) => errs.check(format!("{field}.startTime"), rules::time_of_day(t)),
            (None, true) => {
                errs.broken(
                    format!("{field}.startTime"),
                    "is required while automated backups are enabled",
                );
                None
            }
            (None, false) => Some(0),
        };
        if start.is_some_and(|s| s % 60 != 0) {
            errs.broken(
                format!("{field}.startTime"),
                "must be on the hour (HH:00): Memorystore starts automated backups at the start of an hour",
            );
        }
        let days = self
            .retention_days
            .map_or(GCP_DEFAULT_RETENTION_DAYS as i32, |d| d);
        if !(1..=365).contains(&days) {
            errs.broken(
                format!("{field}.retentionDays"),
                format!("must be between 1 and 365 days (got {days})"),
            );
            return None;
        }
        Some(GcpAutomatedBackup {
            enabled: self.enabled,
            start_hour: u32::from(start? / 60),
            retention_days: days.unsigned_abs(),
        })
    }
}

/// Where a new Memorystore cluster takes its data from. Exactly one; used only when the cloud
/// resource is created, and immutable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.backup) != has(self.gcsUris)")
    .message("gcp.restoreFrom needs exactly one of backup and gcsUris"))]
pub struct GcpRestoreFrom {
    /// A Memorystore backup (`managedBackupSource`):
    /// `projects/P/locations/L/backupCollections/C/backups/B`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 400), pattern(rules::GCP_BACKUP_PATTERN))]
    pub backup: Option<String>,

    /// RDB files in Cloud Storage (`gcsSource.uris`), `gs://BUCKET/OBJECT`, in the cluster's
    /// region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 250),
        inner(length(max = 1100), pattern(rules::GCS_URI_PATTERN))
    )]
    pub gcs_uris: Option<Vec<String>>,
}

impl GcpRestoreFrom {
    pub fn parse(&self, region: &str, field: &str, errs: &mut FieldErrors) -> Option<GcpRestore> {
        match (&self.backup, &self.gcs_uris) {
            (Some(b), None) => {
                let location = errs.check(format!("{field}.backup"), rules::gcp_backup(b))?;
                if location != region {
                    errs.broken(
                        format!("{field}.backup"),
                        format!(
                            "is in location {location:?}; a cluster restores a backup of its own region {region:?}"
                        ),
                    );
                    return None;
                }
                Some(GcpRestore::Backup(b.clone()))
            }
            (None, Some(uris)) if !uris.is_empty() && uris.len() <= 250 => {
                let mut ok = true;
                for (i, u) in uris.iter().enumerate() {
                    ok &= errs
                        .check(format!("{field}.gcsUris[{i}]"), rules::gcs_uri(u))
                        .is_some();
                }
                ok.then(|| GcpRestore::Gcs(uris.clone()))
            }
            (None, Some(_)) => {
                errs.broken(format!("{field}.gcsUris"), "must list 1 to 250 objects");
                None
            }
            _ => {
                errs.broken(field, "needs exactly one of backup and gcsUris");
                None
            }
        }
    }
}

/// Where a new replication group takes its data from. Exactly one; used only when the cloud
/// resource is created, and immutable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.snapshotName) != has(self.snapshotArns)")
    .message("aws.restoreFrom needs exactly one of snapshotName and snapshotArns"))]
pub struct AwsRestoreFrom {
    /// An ElastiCache snapshot of this account and region (`SnapshotName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), pattern(rules::AWS_SNAPSHOT_NAME_PATTERN))]
    pub snapshot_name: Option<String>,

    /// RDB files in S3 (`SnapshotArns`), `arn:aws:s3:::BUCKET/KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 100),
        inner(length(max = 1100), pattern(rules::S3_RDB_ARN_PATTERN))
    )]
    pub snapshot_arns: Option<Vec<String>>,
}

impl AwsRestoreFrom {
    pub fn parse(&self, field: &str, errs: &mut FieldErrors) -> Option<AwsRestore> {
        match (&self.snapshot_name, &self.snapshot_arns) {
            (Some(n), None) => errs
                .check(format!("{field}.snapshotName"), rules::aws_snapshot_name(n))
                .map(|_| AwsRestore::Snapshot(n.clone())),
            (None, Some(arns)) if !arns.is_empty() && arns.len() <= 100 => {
                let mut ok = true;
                for (i, a) in arns.iter().enumerate() {
                    ok &= errs
                        .check(format!("{field}.snapshotArns[{i}]"), rules::s3_rdb_arn(a))
                        .is_some();
                }
                ok.then(|| AwsRestore::S3(arns.clone()))
            }
            (None, Some(_)) => {
                errs.broken(format!("{field}.snapshotArns"), "must list 1 to 100 files");
                None
            }
            _ => {
                errs.broken(field, "needs exactly one of snapshotName and snapshotArns");
                None
            }
        }
    }
}

/// What the cloud says about maintenance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceStatus {
    /// The window the cloud holds, in its own words (aws `sun:05:00-sun:06:00`, gcp
    /// `SUNDAY 05:00 UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// The next maintenance the cloud has scheduled (gcp `maintenanceSchedule`) or, on aws,
    /// the next window in which pending changes will be applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_start: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_end: Option<Time>,
    /// Changes waiting for the window (aws pending modified values, e.g. `EngineVersion 7.1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

/// One backup (gcp) or snapshot (aws) the operator took.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    /// The name the operator asked for.
    pub name: String,
    /// The cloud's full name (gcp backup resource name, aws snapshot ARN), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The cloud's state word (`CREATING`, `ACTIVE`, `creating`, `available`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupsStatus {
    /// The last on-demand backup (`spec.onDemandBackup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_demand: Option<BackupRecord>,
    /// The backup taken before the cloud resource was deleted (`spec.finalBackup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_backup: Option<BackupRecord>,
}

/// The operator-owned AUTH token of an `authMode: token` cluster. The token itself lives only
/// in the Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthTokenStatus {
    /// The Secret (in the cluster's namespace, owned by the RedisCluster) holding the token.
    pub secret_name: String,
    /// When the current token was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_time: Option<Time>,
    /// A rotation under way: `ROTATING` (old and new token both accepted) or `SETTING` (the old
    /// one being dropped), as the cloud reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<String>,
}

/// The Secret an `authMode: token` cluster's token lives in: `<name>-auth-token`, shortened
/// with a hash of the name when that would exceed 253 characters.
pub fn auth_token_secret_name(cluster_name: &str) -> String {
    const SUFFIX: &str = "-auth-token";
    if cluster_name.len() + SUFFIX.len() <= 253 {
        return format!("{cluster_name}{SUFFIX}");
    }
    // FNV-1a: a stable, dependency-free hash keeps two long names apart.
    let hash = cluster_name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    let keep = 253 - SUFFIX.len() - 17;
    let mut head: String = cluster_name.chars().take(keep).collect();
    while head.ends_with(['-', '.']) {
        head.pop();
    }
    format!("{head}-{hash:016x}{SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_secret_names_stay_valid_object_names() {
        assert_eq!(auth_token_secret_name("sessions"), "sessions-auth-token");
        let long = "a".repeat(253);
        let name = auth_token_secret_name(&long);
        assert!(name.len() <= 253);
        assert!(rules::object_name(&name).is_ok(), "{name}");
        assert_ne!(name, auth_token_secret_name(&"a".repeat(252)));
    }
}
