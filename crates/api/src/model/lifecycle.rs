//! Day-2 settings once every rule holds: maintenance windows, backups and restores, AUTH tokens.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A day of the week (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Sunday,
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
}

impl Weekday {
    /// In the order ElastiCache's week starts (Sunday first).
    pub const ALL: [Weekday; 7] = [
        Weekday::Sunday,
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
    ];

    pub fn index(self) -> u32 {
        Weekday::ALL.iter().position(|d| *d == self).unwrap_or(0) as u32
    }

    /// `sun`, `mon`, … (ElastiCache windows).
    pub fn aws(self) -> &'static str {
        match self {
            Weekday::Sunday => "sun",
            Weekday::Monday => "mon",
            Weekday::Tuesday => "tue",
            Weekday::Wednesday => "wed",
            Weekday::Thursday => "thu",
            Weekday::Friday => "fri",
            Weekday::Saturday => "sat",
        }
    }

    /// `SUNDAY`, `MONDAY`, … (`google.type.DayOfWeek`).
    pub fn gcp(self) -> &'static str {
        match self {
            Weekday::Sunday => "SUNDAY",
            Weekday::Monday => "MONDAY",
            Weekday::Tuesday => "TUESDAY",
            Weekday::Wednesday => "WEDNESDAY",
            Weekday::Thursday => "THURSDAY",
            Weekday::Friday => "FRIDAY",
            Weekday::Saturday => "SATURDAY",
        }
    }
}

/// A weekly window in UTC: the day and minute it starts, and how long it lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeeklyWindow {
    pub day: Weekday,
    /// Minutes after midnight.
    pub start: u16,
    pub minutes: u32,
}

const WEEK: u32 = 7 * 24 * 60;

impl WeeklyWindow {
    /// Minutes after Sunday 00:00 at which the window starts.
    fn start_of_week(&self) -> u32 {
        self.day.index() * 24 * 60 + u32::from(self.start)
    }

    /// ElastiCache `PreferredMaintenanceWindow`: `ddd:hh24:mi-ddd:hh24:mi`.
    pub fn aws(&self) -> String {
        let start = self.start_of_week();
        let end = (start + self.minutes) % WEEK;
        format!("{}-{}", week_minute(start), week_minute(end))
    }

    /// Memorystore `weeklyMaintenanceWindow.day`.
    pub fn gcp_day(&self) -> &'static str {
        self.day.gcp()
    }

    /// Memorystore `weeklyMaintenanceWindow.startTime.hours` (the window starts on the hour).
    pub fn gcp_hour(&self) -> u32 {
        u32::from(self.start / 60)
    }

    /// The window ElastiCache reports, as this type; `None` when it is not one.
    pub fn parse_aws(window: &str) -> Option<WeeklyWindow> {
        let (a, b) = window.split_once('-')?;
        let start = parse_week_minute(a)?;
        let end = parse_week_minute(b)?;
        let minutes = (end + WEEK - start) % WEEK;
        Some(WeeklyWindow {
            day: Weekday::ALL[(start / (24 * 60)) as usize],
            start: u16::try_from(start % (24 * 60)).ok()?,
            minutes,
        })
    }
}

impl fmt::Display for WeeklyWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:02}:{:02} UTC for {}m",
            self.day.gcp(),
            self.start / 60,
            self.start % 60,
            self.minutes
        )
    }
}

fn week_minute(m: u32) -> String {
    let day = Weekday::ALL[(m / (24 * 60)) as usize];
    let m = m % (24 * 60);
    format!("{}:{:02}:{:02}", day.aws(), m / 60, m % 60)
}

fn parse_week_minute(s: &str) -> Option<u32> {
    let mut parts = s.split(':');
    let day = parts.next()?.to_ascii_lowercase();
    let day = Weekday::ALL.into_iter().find(|d| d.aws() == day)?;
    let h: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || h > 23 || m > 59 {
        return None;
    }
    Some(day.index() * 24 * 60 + h * 60 + m)
}

/// Where a new Memorystore cluster takes its data from (`gcsSource` / `managedBackupSource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GcpRestore {
    /// `projects/P/locations/L/backupCollections/C/backups/B`
    Backup(String),
    /// `gs://BUCKET/OBJECT` RDB files.
    Gcs(Vec<String>),
}

/// Where a new replication group takes its data from (`SnapshotName` / `SnapshotArns`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwsRestore {
    Snapshot(String),
    /// `arn:aws:s3:::BUCKET/KEY` RDB files.
    S3(Vec<String>),
}

/// Memorystore `automatedBackupConfig`: a daily backup starting at `start_hour` UTC, kept
/// `retention_days` (or, with `enabled: false`, none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcpAutomatedBackup {
    pub enabled: bool,
    pub start_hour: u32,
    pub retention_days: u32,
}

/// Memorystore's default retention of automated backups.
pub const GCP_DEFAULT_RETENTION_DAYS: u32 = 35;

/// The backups the spec asks for, whatever the cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupPlan {
    /// Take a backup before deleting the cluster (with deletionPolicy Delete).
    pub final_backup: bool,
    /// A backup requested by name; a new name is a new backup.
    pub on_demand: Option<String>,
}

impl BackupPlan {
    /// The name of the final backup of a cluster: its ID and the object's UID, so a retried
    /// delete asks for the same backup and two objects never collide.
    pub fn final_backup_name(cluster_id: &str, object_uid: &str) -> String {
        let short: String = object_uid
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase();
        let mut id: String = cluster_id.chars().take(46).collect();
        while id.ends_with('-') {
            id.pop();
        }
        format!("{id}-final-{short}")
    }
}

/// The single AUTH token of an ElastiCache replication group (`authMode: token`). It never
/// appears in `Debug` output, logs or errors.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    /// A token as ElastiCache accepts it on create and on modify: 16–128 characters, letters
    /// and digits (the operator generates them; anything richer is refused by one of the two).
    pub fn new(token: impl Into<String>) -> Result<AuthToken, String> {
        let token = token.into();
        if !(16..=128).contains(&token.len()) {
            return Err(format!(
                "an AUTH token must be 16 to 128 characters (got {})",
                token.len()
            ));
        }
        if !token.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(
                "an AUTH token generated by the operator holds letters and digits only".into(),
            );
        }
        Ok(AuthToken(token))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_windows_speak_elasticache() {
        let w = WeeklyWindow {
            day: Weekday::Sunday,
            start: 23 * 60,
            minutes: 150,
        };
        assert_eq!(w.aws(), "sun:23:00-mon:01:30");
        assert_eq!(WeeklyWindow::parse_aws("sun:23:00-mon:01:30"), Some(w));
        let sat = WeeklyWindow {
            day: Weekday::Saturday,
            start: 23 * 60 + 30,
            minutes: 60,
        };
        assert_eq!(sat.aws(), "sat:23:30-sun:00:30", "wraps around the week");
        assert_eq!(WeeklyWindow::parse_aws("Sat:23:30-Sun:00:30"), Some(sat));
        assert_eq!(WeeklyWindow::parse_aws("sun:25:00-mon:01:30"), None);
        assert_eq!(sat.gcp_day(), "SATURDAY");
        assert_eq!(sat.gcp_hour(), 23);
    }

    #[test]
    fn final_backup_names_are_stable_and_valid() {
        let n = BackupPlan::final_backup_name("orders-cache", "0B6C2A4E-1111-4222");
        assert_eq!(n, "orders-cache-final-0b6c2a4e");
        assert!(crate::rules::backup_name(&n).is_ok());
        let long = BackupPlan::final_backup_name(&format!("a{}", "b".repeat(62)), "12345678");
        assert!(long.len() <= crate::rules::BACKUP_NAME_MAX, "{long}");
        assert!(crate::rules::backup_name(&long).is_ok(), "{long}");
        let hyphen = BackupPlan::final_backup_name(&format!("{}-x", "a".repeat(45)), "12345678");
        assert!(crate::rules::backup_name(&hyphen).is_ok(), "{hyphen}");
    }

    #[test]
    fn auth_tokens_are_checked_and_never_shown() {
        let t = AuthToken::new("A".repeat(32)).unwrap();
        assert_eq!(format!("{t:?}"), "AuthToken(<redacted>)");
        assert!(AuthToken::new("short").is_err());
        assert!(AuthToken::new(format!("{}@", "a".repeat(20))).is_err());
        assert!(AuthToken::new("a".repeat(129)).is_err());
    }
}
