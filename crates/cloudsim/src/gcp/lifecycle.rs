//! Day-2 fields both Memorystore APIs define alike (the Redis Cluster `Cluster`, the Valkey
//! `Instance`): `maintenancePolicy` (and the published `maintenanceSchedule`),
//! `automatedBackupConfig`, `kmsKey` with `encryptionInfo`, and the create-only import sources
//! `gcsSource` / `managedBackupSource`. Errors name the field where the request has it
//! (`cluster.…`, `instance.…`).
//!
//! Sources: `google.cloud.memorystore.v1` (the same messages without the `Cluster` prefix) and
//! `google.cloud.redis.cluster.v1` as published in the generated clients
//! (`ClusterMaintenancePolicy`: "Maximum number of weekly_maintenance_window is expected to be
//! one"; `ClusterWeeklyMaintenanceWindow{day, start_time}`; `AutomatedBackupConfig`: retention
//! "between 1 day and 365 days. If not specified, the default value is 35 days", start time
//! "must be set to the start of an hour"; `EncryptionInfo`; `GcsBackupSource` /
//! `ManagedBackupSource` in the `import_sources` oneof), and gcloud 528's `redis clusters`
//! surface (the maintenance window is a day and an hour; `--kms-key` "must be in the same region
//! as the cluster. Otherwise, the create operation fails").

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use super::error::RpcError;
use super::protojson::{Obj, ProtoEnum, proto_enum};
use super::resource::Service;
use crate::util::rfc3339_micros;

proto_enum!(DayOfWeek, "google.type.DayOfWeek", {
    DAY_OF_WEEK_UNSPECIFIED = 0,
    MONDAY = 1,
    TUESDAY = 2,
    WEDNESDAY = 3,
    THURSDAY = 4,
    FRIDAY = 5,
    SATURDAY = 6,
    SUNDAY = 7,
});

impl DayOfWeek {
    pub fn weekday(self) -> Option<jiff::civil::Weekday> {
        use jiff::civil::Weekday as W;
        Some(match self {
            DayOfWeek::DAY_OF_WEEK_UNSPECIFIED => return None,
            DayOfWeek::MONDAY => W::Monday,
            DayOfWeek::TUESDAY => W::Tuesday,
            DayOfWeek::WEDNESDAY => W::Wednesday,
            DayOfWeek::THURSDAY => W::Thursday,
            DayOfWeek::FRIDAY => W::Friday,
            DayOfWeek::SATURDAY => W::Saturday,
            DayOfWeek::SUNDAY => W::Sunday,
        })
    }
}

proto_enum!(AutomatedBackupMode, "AutomatedBackupConfig.AutomatedBackupMode", {
    AUTOMATED_BACKUP_MODE_UNSPECIFIED = 0,
    DISABLED = 1,
    ENABLED = 2,
});

proto_enum!(EncryptionType, "EncryptionInfo.Type", {
    TYPE_UNSPECIFIED = 0,
    GOOGLE_DEFAULT_ENCRYPTION = 1,
    CUSTOMER_MANAGED_ENCRYPTION = 2,
});

proto_enum!(KmsKeyState, "EncryptionInfo.KmsKeyState", {
    KMS_KEY_STATE_UNSPECIFIED = 0,
    ENABLED = 1,
    PERMISSION_DENIED = 2,
    DISABLED = 3,
    DESTROYED = 4,
    DESTROY_SCHEDULED = 5,
    EKM_KEY_UNREACHABLE_DETECTED = 6,
    BILLING_DISABLED = 7,
    UNKNOWN_FAILURE = 8,
});

/// A `google.type.TimeOfDay` on the hour (what gcloud sends and Memorystore schedules take).
fn hour_of_day(mut o: Obj, field: &str) -> Result<u32, RpcError> {
    let hours = o.int32("hours")?.unwrap_or(0);
    let minutes = o.int32("minutes")?.unwrap_or(0);
    let seconds = o.int32("seconds")?.unwrap_or(0);
    let nanos = o.int32("nanos")?.unwrap_or(0);
    o.finish()?;
    if !(0..=23).contains(&hours) {
        return Err(RpcError::bad_field(
            field,
            format!("{field}.hours must be between 0 and 23, got {hours}"),
        ));
    }
    if minutes != 0 || seconds != 0 || nanos != 0 {
        return Err(RpcError::bad_field(
            field,
            format!("{field} must be the start of an hour (minutes, seconds and nanos 0)"),
        ));
    }
    Ok(hours.unsigned_abs())
}

fn render_hour(hours: u32) -> Value {
    // proto3 JSON leaves out zero values: midnight is `{}`.
    if hours == 0 {
        json!({})
    } else {
        json!({"hours": hours})
    }
}

/// `maintenancePolicy`: one weekly window of one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenancePolicy {
    pub day: DayOfWeek,
    pub hour: u32,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}

impl MaintenancePolicy {
    /// Parses a policy from a request; the times are set by the caller.
    pub fn parse(mut o: Obj, now: Timestamp) -> Result<Self, RpcError> {
        let field = format!("{}.weekly_maintenance_window", o.path());
        let windows = o.objects("weeklyMaintenanceWindow")?.unwrap_or_default();
        o.ignore(&["createTime", "updateTime"]);
        o.finish()?;
        let field = field.as_str();
        if windows.len() != 1 {
            return Err(RpcError::bad_field(
                field,
                format!(
                    "a maintenance policy takes exactly one weekly maintenance window, got {}",
                    windows.len()
                ),
            ));
        }
        let mut w = windows.into_iter().next().expect("one window");
        let day = w.enumeration::<DayOfWeek>("day")?;
        let start = w.object("startTime")?;
        w.ignore(&["duration"]);
        w.finish()?;
        let day = day
            .filter(|d| *d != DayOfWeek::DAY_OF_WEEK_UNSPECIFIED)
            .ok_or_else(|| RpcError::bad_field(field, format!("{field}.day is required")))?;
        let start = start
            .ok_or_else(|| RpcError::bad_field(field, format!("{field}.start_time is required")))?;
        Ok(Self {
            day,
            hour: hour_of_day(start, &format!("{field}.start_time"))?,
            create_time: now,
            update_time: now,
        })
    }

    pub fn render(&self, ints: bool) -> Value {
        json!({
            "createTime": rfc3339_micros(self.create_time),
            "updateTime": rfc3339_micros(self.update_time),
            "weeklyMaintenanceWindow": [{"day": self.day.json(ints), "startTime": render_hour(self.hour)}],
        })
    }

    /// The start of the next window after `now`.
    pub fn next_start(&self, now: Timestamp) -> Option<Timestamp> {
        let weekday = self.day.weekday()?;
        let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        (0..=7).find_map(|k| {
            let date = today.checked_add(jiff::Span::new().days(k)).ok()?;
            let at = date
                .at(i8::try_from(self.hour).ok()?, 0, 0, 0)
                .to_zoned(jiff::tz::TimeZone::UTC)
                .ok()?
                .timestamp();
            (date.weekday() == weekday && at > now).then_some(at)
        })
    }
}

/// The default retention of automated backups: 35 days.
const DEFAULT_RETENTION_SECS: u64 = 35 * 24 * 3600;
const DAY_SECS: u64 = 24 * 3600;

/// A `google.protobuf.Duration` in JSON (`"604800s"`, fractions allowed) as whole seconds.
pub fn duration_secs(value: &str, field: &str) -> Result<u64, RpcError> {
    let bad = || {
        RpcError::bad_field(
            field,
            format!(
                "Invalid value at '{field}' (type.googleapis.com/google.protobuf.Duration), \"{value}\""
            ),
        )
    };
    let n = value.strip_suffix('s').ok_or_else(bad)?;
    let secs = n.parse::<f64>().map_err(|_| bad())?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad());
    }
    Ok(secs as u64)
}

/// `automatedBackupConfig`.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomatedBackupConfig {
    pub mode: AutomatedBackupMode,
    pub start_hour: Option<u32>,
    pub retention_secs: u64,
}

impl AutomatedBackupConfig {
    pub fn parse(mut o: Obj) -> Result<Self, RpcError> {
        let field = o.path().to_owned();
        let mode = o
            .enumeration::<AutomatedBackupMode>("automatedBackupMode")?
            .unwrap_or(AutomatedBackupMode::AUTOMATED_BACKUP_MODE_UNSPECIFIED);
        let schedule = o.object("fixedFrequencySchedule")?;
        let retention = o.string("retention")?;
        o.finish()?;
        let start_hour = match schedule {
            None => None,
            Some(mut s) => {
                let start = s.object("startTime")?;
                s.finish()?;
                match start {
                    Some(t) => Some(hour_of_day(
                        t,
                        &format!("{field}.fixed_frequency_schedule.start_time"),
                    )?),
                    None => None,
                }
            }
        };
        let retention_secs = match retention {
            None => DEFAULT_RETENTION_SECS,
            Some(r) => {
                let secs = duration_secs(&r, &format!("{field}.retention"))?;
                if !(DAY_SECS..=365 * DAY_SECS).contains(&secs) {
                    return Err(RpcError::bad_field(
                        &format!("{field}.retention"),
                        format!("retention must be between 1 day and 365 days, got {r}"),
                    ));
                }
                secs
            }
        };
        if mode == AutomatedBackupMode::ENABLED && start_hour.is_none() {
            return Err(RpcError::bad_field(
                &format!("{field}.fixed_frequency_schedule.start_time"),
                "fixed_frequency_schedule.start_time is required when automated backups are enabled",
            ));
        }
        Ok(Self {
            mode,
            start_hour,
            retention_secs,
        })
    }

    pub fn enabled(&self) -> bool {
        self.mode == AutomatedBackupMode::ENABLED
    }

    pub fn render(&self, ints: bool) -> Value {
        let mut v = json!({
            "automatedBackupMode": self.mode.json(ints),
            "retention": format!("{}s", self.retention_secs),
        });
        if let Some(h) = self.start_hour {
            v["fixedFrequencySchedule"] = json!({"startTime": render_hour(h)});
        }
        v
    }
}

/// `projects/P/locations/L/keyRings/R/cryptoKeys/K`; returns the key's location. `field` names
/// the request field in the error.
pub fn kms_key_location<'a>(key: &'a str, field: &str) -> Result<&'a str, RpcError> {
    let id_ok = |s: &str| {
        (1..=63).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        [
            "projects",
            p,
            "locations",
            l,
            "keyRings",
            r,
            "cryptoKeys",
            k,
        ] if !p.is_empty() && !l.is_empty() && id_ok(r) && id_ok(k) => Ok(l),
        _ => Err(RpcError::bad_field(
            field,
            format!(
                "Invalid kms_key {key:?}: expected projects/{{project}}/locations/{{location}}/keyRings/{{key_ring}}/cryptoKeys/{{crypto_key}}"
            ),
        )),
    }
}

/// Whose `encryptionInfo` it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encrypted {
    /// A cluster or instance.
    Resource,
    /// A backup of one, in `service`.
    Backup(Service),
}

/// `encryptionInfo` of a resource or backup encrypted with `kms_key` (Google's default without).
pub fn encryption_info(
    kms_key: Option<&str>,
    at: Timestamp,
    whose: Encrypted,
    ints: bool,
) -> Value {
    match kms_key {
        // Memorystore for Valkey dates the default encryption of a backup too.
        None if whose == Encrypted::Backup(Service::Memorystore) => json!({
            "encryptionType": EncryptionType::GOOGLE_DEFAULT_ENCRYPTION.json(ints),
            "lastUpdateTime": rfc3339_micros(at),
        }),
        None => json!({"encryptionType": EncryptionType::GOOGLE_DEFAULT_ENCRYPTION.json(ints)}),
        Some(k) => {
            let mut v = json!({
                "encryptionType": EncryptionType::CUSTOMER_MANAGED_ENCRYPTION.json(ints),
                "kmsKeyVersions": [format!("{k}/cryptoKeyVersions/1")],
                "lastUpdateTime": rfc3339_micros(at),
            });
            // "This field is not populated in backups."
            if whose == Encrypted::Resource {
                v["kmsKeyPrimaryState"] = KmsKeyState::ENABLED.json(ints);
            }
            v
        }
    }
}

/// Where a new resource takes its data from (`import_sources` oneof).
#[derive(Debug, Clone, PartialEq)]
pub enum ImportSource {
    /// `gs://BUCKET/OBJECT` RDB files.
    Gcs(Vec<String>),
    /// A backup's full name (without the `//{host}/` prefix).
    Managed(String),
}

impl ImportSource {
    /// Reads `gcsSource` / `managedBackupSource` of a request to `service`, whose backups may be
    /// named with or without the `//{host}/` prefix.
    pub fn parse(
        gcs: Option<Obj>,
        managed: Option<Obj>,
        service: Service,
    ) -> Result<Option<Self>, RpcError> {
        match (gcs, managed) {
            (None, None) => Ok(None),
            (Some(g), Some(_)) => Err(RpcError::bad_field(
                g.path().rsplit_once('.').map_or("", |(parent, _)| parent),
                "gcs_source and managed_backup_source are a oneof (import_sources): set at most one",
            )),
            (Some(mut g), None) => {
                let field = format!("{}.uris", g.path());
                let uris: Vec<String> = g
                    .array("uris")?
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s),
                        other => Err(RpcError::bad_field(
                            &field,
                            format!("Invalid value at '{field}' (TYPE_STRING), {other}"),
                        )),
                    })
                    .collect::<Result<_, _>>()?;
                g.finish()?;
                if uris.is_empty() {
                    return Err(RpcError::bad_field(
                        &field,
                        "gcs_source.uris must name at least one object",
                    ));
                }
                if let Some(u) = uris.iter().find(|u| {
                    u.strip_prefix("gs://")
                        .and_then(|r| r.split_once('/'))
                        .is_none_or(|(b, o)| b.is_empty() || o.is_empty())
                }) {
                    return Err(RpcError::bad_field(
                        &field,
                        format!("Invalid Cloud Storage URI {u:?}: expected gs://BUCKET/OBJECT"),
                    ));
                }
                Ok(Some(ImportSource::Gcs(uris)))
            }
            (None, Some(mut m)) => {
                let field = format!("{}.backup", m.path());
                let backup = m.string("backup")?.unwrap_or_default();
                m.finish()?;
                let prefix = format!("//{}/", service.host());
                let name = backup.strip_prefix(&prefix).unwrap_or(&backup).to_owned();
                let parts: Vec<&str> = name.split('/').collect();
                let ok = matches!(parts.as_slice(),
                    ["projects", p, "locations", l, "backupCollections", c, "backups", b]
                        if !p.is_empty() && !l.is_empty() && !c.is_empty() && !b.is_empty());
                if !ok {
                    return Err(RpcError::bad_field(
                        &field,
                        format!(
                            "Invalid backup {backup:?}: expected projects/{{project}}/locations/{{location}}/backupCollections/{{collection}}/backups/{{backup}}"
                        ),
                    ));
                }
                Ok(Some(ImportSource::Managed(name)))
            }
        }
    }
}

/// The day-2 settings of a resource's spec, the same in both APIs, and the messages the simulator
/// stores and echoes without interpreting them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Day2 {
    pub maintenance_policy: Option<MaintenancePolicy>,
    pub automated_backup: Option<AutomatedBackupConfig>,
    /// CMEK for data at rest (create-only).
    pub kms_key: Option<String>,
    /// By JSON name.
    pub passthrough: BTreeMap<&'static str, Value>,
}

/// A day-2 field an update may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day2Field {
    MaintenancePolicy,
    AutomatedBackupConfig,
    /// A stored-as-is message, by JSON name.
    Passthrough(&'static str),
}

/// The day-2 fields of a request body.
#[derive(Debug, Default)]
pub struct Day2Input {
    pub day2: Day2,
    /// Where a new resource takes its data from (create-only, never echoed).
    pub import: Option<ImportSource>,
}

impl Day2Input {
    /// Reads `maintenancePolicy`, `automatedBackupConfig`, `kmsKey`, the import sources and the
    /// `passthrough` messages of a request to `service`.
    pub fn read(
        o: &mut Obj,
        service: Service,
        passthrough: &[&'static str],
    ) -> Result<Self, RpcError> {
        let kms_field = format!("{}.kms_key", o.path());
        let mut day2 = Day2 {
            maintenance_policy: o
                .object("maintenancePolicy")?
                .map(|p| MaintenancePolicy::parse(p, Timestamp::now()))
                .transpose()?,
            automated_backup: o
                .object("automatedBackupConfig")?
                .map(AutomatedBackupConfig::parse)
                .transpose()?,
            kms_key: None,
            passthrough: BTreeMap::new(),
        };
        if let Some(k) = o.string("kmsKey")? {
            kms_key_location(&k, &kms_field)?;
            day2.kms_key = Some(k);
        }
        let gcs = o.object("gcsSource")?;
        let managed = o.object("managedBackupSource")?;
        let import = ImportSource::parse(gcs, managed, service)?;
        for f in passthrough {
            if let Some(v) = o.raw(f) {
                day2.passthrough.insert(f, v);
            }
        }
        Ok(Self { day2, import })
    }
}

impl Day2 {
    /// Takes `field` from an update's body; a new maintenance policy keeps the creation time of
    /// the one it replaces.
    pub fn update(&mut self, field: Day2Field, input: &mut Day2Input) {
        let from = &mut input.day2;
        match field {
            Day2Field::MaintenancePolicy => {
                let created = self.maintenance_policy.as_ref().map(|p| p.create_time);
                self.maintenance_policy = from.maintenance_policy.take().map(|mut p| {
                    if let Some(t) = created {
                        p.create_time = t;
                    }
                    p
                });
            }
            Day2Field::AutomatedBackupConfig => {
                self.automated_backup = from.automated_backup.take();
            }
            Day2Field::Passthrough(name) => match from.passthrough.remove(name) {
                Some(v) => {
                    self.passthrough.insert(name, v);
                }
                None => {
                    self.passthrough.remove(name);
                }
            },
        }
    }

    /// `maintenancePolicy`, `automatedBackupConfig` (`unset` when there is none) and the stored
    /// messages; the resource renders `kmsKey` with its encryption.
    pub fn render_into(&self, m: &mut Map<String, Value>, unset: Option<Value>, ints: bool) {
        for (k, v) in &self.passthrough {
            m.insert((*k).into(), v.clone());
        }
        if let Some(p) = &self.maintenance_policy {
            m.insert("maintenancePolicy".into(), p.render(ints));
        }
        if let Some(b) = self
            .automated_backup
            .as_ref()
            .map(|b| b.render(ints))
            .or(unset)
        {
            m.insert("automatedBackupConfig".into(), b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_window_is_the_next_matching_weekday_and_hour() {
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap(); // a Wednesday
        let p = MaintenancePolicy {
            day: DayOfWeek::WEDNESDAY,
            hour: 9,
            create_time: now,
            update_time: now,
        };
        assert_eq!(
            p.next_start(now).unwrap().to_string(),
            "2026-12-02T09:00:00Z",
            "today's window has passed"
        );
        let later = MaintenancePolicy { hour: 22, ..p };
        assert_eq!(
            later.next_start(now).unwrap().to_string(),
            "2026-11-25T22:00:00Z"
        );
    }

    #[test]
    fn durations_are_protobuf_json() {
        assert_eq!(duration_secs("604800s", "f").unwrap(), 604_800);
        assert_eq!(duration_secs("1.5s", "f").unwrap(), 1);
        assert!(duration_secs("7d", "f").is_err());
    }
}
