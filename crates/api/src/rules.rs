//! The value rules of both clouds, in one place.
//!
//! Each rule exists three times in the product — as a Rust check (here), as an OpenAPI
//! `pattern`/`enum`/range in the CRD schema, and as a CEL rule where it spans fields — and the
//! patterns below are the single source the schema attributes use. The Rust checks give the
//! precise message; the schema gives the API server something to refuse with.

use std::fmt;

pub use crate::model::engine::EngineVersion;

/// Why a value breaks a rule, phrased to follow `<field>: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken(pub String);

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn broken<T>(msg: impl Into<String>) -> Result<T, Broken> {
    Err(Broken(msg.into()))
}

// Bounds on what CEL rules read. The API server estimates each rule's worst case from the
// schema's maxLength/maxItems/maxProperties and refuses a CRD whose rules could cost too much,
// so every string, list and map a rule reads carries one (crates/api/tests/cel_cost.rs holds it).

/// Labels and annotations a binding's Secret may carry.
pub const SECRET_TEMPLATE_MAX_ENTRIES: usize = 64;
/// Kubernetes label values: at most 63 characters.
pub const LABEL_VALUE_MAX: usize = 63;
/// Annotation values on the Secret (Kubernetes allows 256 KiB for all of them together).
pub const ANNOTATION_VALUE_MAX: usize = 4096;
/// Memorystore `redisConfigs` values (numbers, policies, event flags).
pub const REDIS_CONFIG_VALUE_MAX: usize = 256;
/// ElastiCache access strings.
pub const ACCESS_STRING_MAX: usize = 1024;

/// A schema transform for a string map: at most `ENTRIES` entries of at most `VALUE` characters.
pub fn bounded_map<const ENTRIES: usize, const VALUE: usize>(schema: &mut schemars::Schema) {
    schema.insert("maxProperties".into(), ENTRIES.into());
    if let Some(values) = schema
        .get_mut("additionalProperties")
        .and_then(|v| v.as_object_mut())
    {
        values.insert("maxLength".into(), VALUE.into());
    }
}

/// Memorystore cluster IDs (and the union schema pattern for `spec.instanceId`).
pub const GCP_CLUSTER_ID_PATTERN: &str = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$";
pub const GCP_CLUSTER_ID_MAX: usize = 63;
/// ElastiCache replication group IDs; the cloud stores them lowercase, so uppercase is refused.
pub const AWS_REPLICATION_GROUP_ID_MAX: usize = 40;
/// GCP project IDs: 6–30 characters.
pub const GCP_PROJECT_PATTERN: &str = "^[a-z][a-z0-9-]{4,28}[a-z0-9]$";
pub const GCP_NETWORK_PATTERN: &str =
    "^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/networks/[a-z]([a-z0-9-]{0,61}[a-z0-9])?$";
/// Cloud regions as both clouds spell them (`us-central1`, `eu-west-1`, `us-gov-west-1`).
pub const REGION_PATTERN: &str = "^[a-z]{2,}(-[a-z]+)*-[a-z]*[0-9]+$";
pub const GCP_ZONE_PATTERN: &str = "^[a-z]{2,}(-[a-z]+)*-[a-z]*[0-9]+-[a-z]$";
/// ElastiCache user and user group IDs (stored lowercase by the cloud).
pub const AWS_USER_ID_PATTERN: &str = "^[a-z]([a-z0-9-]*[a-z0-9])?$";
pub const AWS_USER_ID_MAX: usize = 40;
pub const AWS_USER_NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._@-]*$";
pub const AWS_USER_NAME_MAX: usize = 120;
pub const AWS_SECURITY_GROUP_PATTERN: &str = "^sg-([0-9a-f]{8}|[0-9a-f]{17})$";
pub const AWS_SUBNET_GROUP_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,253}[a-z0-9])?$";
pub const AWS_PARAMETER_GROUP_PATTERN: &str = "^[a-zA-Z][a-zA-Z0-9.-]{0,254}$";
/// Engine versions as ElastiCache names them (`7.1`, `8.0`, `5.0.6`); at most three digits a
/// part, so that CEL can compare them as integers.
pub const AWS_ENGINE_VERSION_PATTERN: &str = "^[0-9]{1,3}\\.[0-9]{1,3}(\\.[0-9]{1,3})?$";
pub const GCP_PRINCIPAL_PATTERN: &str =
    "^(serviceAccount|user|group):[^@\\s]+@[^@\\s]+\\.[^@\\s]+$";
pub const SA_EMAIL_PATTERN: &str =
    "^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\\.iam\\.gserviceaccount\\.com$";
/// Kubernetes namespace names (DNS-1123 labels) or `*` for every namespace.
pub const NAMESPACE_OR_STAR_PATTERN: &str = "^(\\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$";
pub const NAMESPACE_PATTERN: &str = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
/// Object names referenced by our kinds (DNS-1123 subdomains).
pub const OBJECT_NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$";
/// Go `time.Duration` strings as Kubernetes uses them (`90s`, `15m`, `1h30m`).
pub const DURATION_PATTERN: &str = "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";

/// `1–63 lowercase letters, digits, hyphens; starts with a letter; ends with a letter or digit`.
pub fn gcp_cluster_id(id: &str) -> Result<(), Broken> {
    lowercase_id(id, GCP_CLUSTER_ID_MAX)
}

/// Memorystore for Valkey instance IDs: where the sources disagree (the API admits 4–63
/// characters starting with a letter or digit, gcloud's documentation 1–63 starting with a
/// letter), only what both admit: 4–63 lowercase letters, digits and hyphens, starting with a
/// letter and ending with a letter or digit.
pub fn valkey_instance_id(id: &str) -> Result<(), Broken> {
    lowercase_id(id, GCP_CLUSTER_ID_MAX)?;
    if id.len() < VALKEY_INSTANCE_ID_MIN {
        return Err(Broken(format!(
            "must be at least {VALKEY_INSTANCE_ID_MIN} characters for Memorystore for Valkey"
        )));
    }
    Ok(())
}

pub const VALKEY_INSTANCE_ID_MIN: usize = 4;

/// `1–40 lowercase letters, digits, hyphens; starts with a letter; no "--"; no trailing hyphen`.
pub fn aws_replication_group_id(id: &str) -> Result<(), Broken> {
    lowercase_id(id, AWS_REPLICATION_GROUP_ID_MAX)?;
    no_double_hyphen(id)
}

/// ElastiCache user and user group IDs.
pub fn aws_user_id(id: &str) -> Result<(), Broken> {
    lowercase_id(id, AWS_USER_ID_MAX)?;
    no_double_hyphen(id)
}

fn no_double_hyphen(id: &str) -> Result<(), Broken> {
    if id.contains("--") {
        return broken("must not contain two consecutive hyphens");
    }
    Ok(())
}

fn lowercase_id(id: &str, max: usize) -> Result<(), Broken> {
    if id.is_empty() {
        return broken("must not be empty");
    }
    if id.len() > max {
        return broken(format!(
            "must be at most {max} characters (got {})",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return broken(format!(
            "must contain only lowercase letters, digits and hyphens (found {c:?})"
        ));
    }
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        return broken("must start with a lowercase letter");
    }
    if id.ends_with('-') {
        return broken("must end with a lowercase letter or digit");
    }
    Ok(())
}

pub fn gcp_project(project: &str) -> Result<(), Broken> {
    if project.len() < 6 || project.len() > 30 {
        return broken("must be a GCP project ID of 6–30 characters");
    }
    lowercase_id(project, 30).map_err(|Broken(m)| Broken(format!("project ID {m}")))
}

/// `projects/<project>/global/networks/<network>`; returns the network's project.
pub fn gcp_network(network: &str) -> Result<&str, Broken> {
    let shape = || Broken("must have the form projects/<project>/global/networks/<network>".into());
    let rest = network.strip_prefix("projects/").ok_or_else(shape)?;
    let (project, rest) = rest.split_once('/').ok_or_else(shape)?;
    let name = rest.strip_prefix("global/networks/").ok_or_else(shape)?;
    gcp_project(project).map_err(|_| shape())?;
    gcp_cluster_id(name).map_err(|Broken(m)| Broken(format!("network name {m}")))?;
    Ok(project)
}

pub fn region(region: &str) -> Result<(), Broken> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 2
        && parts[0].len() >= 2
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
        && {
            let last = parts[parts.len() - 1];
            let digits = last.trim_start_matches(|c: char| c.is_ascii_lowercase());
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
        };
    if ok {
        Ok(())
    } else {
        broken("must be a region name such as us-central1 or eu-west-1")
    }
}

pub fn aws_user_name(name: &str) -> Result<(), Broken> {
    if name.is_empty() {
        return broken("must not be empty");
    }
    if name.len() > AWS_USER_NAME_MAX {
        return broken(format!("must be at most {AWS_USER_NAME_MAX} characters"));
    }
    let first_ok = name.starts_with(|c: char| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if !(first_ok && rest_ok) {
        return broken(
            "must start with a letter or digit and contain only letters, digits, '.', '_', '@' and '-'",
        );
    }
    Ok(())
}

/// A Valkey/Redis ACL rule list as ElastiCache accepts it: space-separated rules, no
/// passwords or resets inside (the cloud manages credentials).
pub fn access_string(access: &str) -> Result<(), Broken> {
    if access.trim().is_empty() {
        return broken("must not be empty (e.g. \"on ~* +@all\")");
    }
    if access.chars().count() > ACCESS_STRING_MAX {
        return broken(format!("must be at most {ACCESS_STRING_MAX} characters"));
    }
    for rule in access.split_whitespace() {
        let lower = rule.to_ascii_lowercase();
        if rule.starts_with('>')
            || rule.starts_with('<')
            || rule.starts_with('#')
            || rule.starts_with('!')
        {
            return broken(format!(
                "must not contain passwords or password hashes (rule {rule:?}); the operator manages credentials"
            ));
        }
        if matches!(lower.as_str(), "nopass" | "resetpass" | "reset") {
            return broken(format!(
                "must not contain {rule:?}; the operator manages credentials"
            ));
        }
        let known = matches!(
            lower.as_str(),
            "on" | "off"
                | "allkeys"
                | "resetkeys"
                | "allchannels"
                | "resetchannels"
                | "allcommands"
                | "nocommands"
                | "clearselectors"
        ) || rule.starts_with(['~', '&', '+', '-', '%', '(', ')'])
            || rule.ends_with(')');
        if !known {
            return broken(format!(
                "rule {rule:?} is not an ACL rule (expected on/off, ~keys, &channels, +cmd, -cmd, +@category, -@category, %R~/%W~/%RW~ or a selector)"
            ));
        }
    }
    let mentions_state = access
        .split_whitespace()
        .any(|r| r.eq_ignore_ascii_case("on") || r.eq_ignore_ascii_case("off"));
    if !mentions_state {
        return broken("must include \"on\" (or \"off\"): a user with neither is disabled");
    }
    Ok(())
}

/// `serviceAccount:…`, `user:…` or `group:…` followed by an email address.
pub fn gcp_principal(member: &str) -> Result<(), Broken> {
    let Some((kind, email)) = member.split_once(':') else {
        return broken("must be serviceAccount:EMAIL, user:EMAIL or group:EMAIL");
    };
    if !matches!(kind, "serviceAccount" | "user" | "group") {
        return broken(format!(
            "principal type {kind:?} is not supported; use serviceAccount:, user: or group:"
        ));
    }
    email_address(email)
}

pub fn email_address(email: &str) -> Result<(), Broken> {
    let ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(|c| c.is_whitespace() || c == ':')
                && !domain.contains('@')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        broken("must be an email address")
    }
}

pub fn namespace_or_star(ns: &str) -> Result<(), Broken> {
    if ns == "*" {
        return Ok(());
    }
    dns_label(ns)
}

pub fn dns_label(name: &str) -> Result<(), Broken> {
    if name.is_empty() || name.len() > 63 {
        return broken("must be 1–63 characters");
    }
    let ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        broken(
            "must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit",
        )
    }
}

pub fn object_name(name: &str) -> Result<(), Broken> {
    if name.is_empty() || name.len() > 253 {
        return broken("must be 1–253 characters");
    }
    let ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        broken(
            "must be a DNS subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        )
    }
}

/// A Go duration such as `10m` or `1h30m`.
pub fn duration(value: &str) -> Result<std::time::Duration, Broken> {
    let parsed: kube::core::Duration = value
        .parse()
        .map_err(|_| Broken("must be a duration such as 90s, 15m or 1h30m".into()))?;
    if parsed.is_negative() {
        return Err(Broken("must not be negative".into()));
    }
    Ok(parsed.into())
}

pub fn aws_engine_version(v: &str) -> Result<EngineVersion, Broken> {
    EngineVersion::parse(v).ok_or_else(|| Broken("must be a version such as 7.1 or 8.0".into()))
}

/// A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name of at most
/// 63 characters.
pub fn label_key(key: &str) -> Result<(), Broken> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        object_name(p).map_err(|Broken(m)| Broken(format!("key prefix {m}")))?;
    }
    if name.is_empty() || name.len() > 63 {
        return broken("key name must be 1–63 characters");
    }
    label_chars(name).map_err(|Broken(m)| Broken(format!("key {m}")))
}

/// A label value: empty, or at most 63 characters of the label alphabet.
pub fn label_value(value: &str) -> Result<(), Broken> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > 63 {
        return broken("value must be at most 63 characters");
    }
    label_chars(value).map_err(|Broken(m)| Broken(format!("value {m}")))
}

fn label_chars(s: &str) -> Result<(), Broken> {
    let ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        broken(
            "must consist of letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
        )
    }
}

// Day-2 settings: maintenance windows, backups, encryption keys, AUTH tokens.

/// `HH:MM` on a 24-hour clock (UTC).
pub const TIME_OF_DAY_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";
/// `HH:00`: Memorystore schedules start on the hour.
pub const HOUR_OF_DAY_PATTERN: &str = "^([01][0-9]|2[0-3]):00$";
/// A window length in whole minutes as a Go duration (`1h`, `90m`, `1h30m`, `24h`).
pub const WINDOW_DURATION_PATTERN: &str = "^([1-9][0-9]?h([1-5]?[0-9]m)?|[1-9][0-9]{0,3}m)$";
/// ElastiCache `SnapshotWindow`: `hh24:mi-hh24:mi` (UTC).
pub const DAILY_WINDOW_PATTERN: &str =
    "^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$";
/// Names of backups and snapshots the operator requests: what both clouds accept (a letter
/// first, lowercase letters, digits and single hyphens, no trailing hyphen).
pub const BACKUP_NAME_PATTERN: &str = "^[a-z]([a-z0-9]|-[a-z0-9])*$";
pub const BACKUP_NAME_MAX: usize = 63;
/// A Memorystore backup to restore from (`managedBackupSource.backup`), with or without the
/// `//redis.googleapis.com/` prefix the API also accepts.
pub const GCP_BACKUP_PATTERN: &str = "^(//redis\\.googleapis\\.com/)?projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z]{2,}(-[a-z]+)*-[a-z]*[0-9]+/backupCollections/[^/]{1,128}/backups/[^/]{1,128}$";
/// Cloud Storage objects to import (`gcsSource.uris`): `gs://BUCKET/OBJECT`.
pub const GCS_URI_PATTERN: &str = "^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]/[^\\s]+$";
pub const GCS_URI_MAX: usize = 1100;
/// ElastiCache snapshot names to restore from: manual names, and automatic ones such as
/// `automatic.orders-2024-06-01-05-00`.
pub const AWS_SNAPSHOT_NAME_PATTERN: &str = "^[A-Za-z][A-Za-z0-9.:-]*$";
/// `SnapshotArns`: RDB files in S3; the object name cannot contain commas (the model says so).
pub const S3_RDB_ARN_PATTERN: &str =
    "^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^,\\s]+$";
/// Cloud KMS keys: `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
pub const GCP_KMS_KEY_PATTERN: &str = "^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z0-9-]{1,63}/keyRings/[A-Za-z0-9_-]{1,63}/cryptoKeys/[A-Za-z0-9_-]{1,63}$";
/// AWS KMS keys as KMS names them: key ID (a UUID, or `mrk-` and 32 hex digits for multi-Region
/// keys), key ARN, alias name or alias ARN.
pub const AWS_KMS_KEY_PATTERN: &str = "^(([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})|alias/[A-Za-z0-9/_-]{1,250})|alias/[A-Za-z0-9/_-]{1,250})$";
pub const AWS_KMS_KEY_MAX: usize = 400;

/// A time of day `HH:MM` (UTC), as minutes after midnight.
pub fn time_of_day(value: &str) -> Result<u16, Broken> {
    let shape = || Broken("must be a time of day HH:MM (24-hour clock, UTC), e.g. 03:30".into());
    let (h, m) = value.split_once(':').ok_or_else(shape)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(shape());
    }
    let h: u16 = h.parse().map_err(|_| shape())?;
    let m: u16 = m.parse().map_err(|_| shape())?;
    if h > 23 || m > 59 {
        return Err(shape());
    }
    Ok(h * 60 + m)
}

/// A window length in whole minutes between `min` and `max` minutes.
pub fn window_minutes(value: &str, min: u32, max: u32) -> Result<u32, Broken> {
    let shape = || Broken("must be written in hours and minutes, e.g. 1h, 90m or 1h30m".into());
    if value.is_empty()
        || !value
            .chars()
            .all(|c| c.is_ascii_digit() || c == 'h' || c == 'm')
    {
        return Err(shape());
    }
    let d = duration(value).map_err(|_| shape())?;
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs % 60 != 0 {
        return broken("must be a whole number of minutes, e.g. 1h or 90m");
    }
    let minutes = u32::try_from(secs / 60).unwrap_or(u32::MAX);
    if !(min..=max).contains(&minutes) {
        return broken(format!(
            "must be between {} and {} (got {value})",
            show_minutes(min),
            show_minutes(max)
        ));
    }
    Ok(minutes)
}

fn show_minutes(m: u32) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// ElastiCache `SnapshotWindow` `hh24:mi-hh24:mi`: (start, end) in minutes after midnight.
pub fn daily_window(value: &str) -> Result<(u16, u16), Broken> {
    let shape =
        || Broken("must be a daily time range hh24:mi-hh24:mi in UTC, e.g. 05:00-09:00".into());
    let (a, b) = value.split_once('-').ok_or_else(shape)?;
    let start = time_of_day(a).map_err(|_| shape())?;
    let end = time_of_day(b).map_err(|_| shape())?;
    if start == end {
        return broken("must not start and end at the same time");
    }
    Ok((start, end))
}

/// A backup or snapshot name the operator requests.
pub fn backup_name(name: &str) -> Result<(), Broken> {
    if name.is_empty() || name.len() > BACKUP_NAME_MAX {
        return broken(format!("must be 1–{BACKUP_NAME_MAX} characters"));
    }
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        broken(
            "must start with a lowercase letter and contain only lowercase letters, digits and single hyphens, not ending with a hyphen",
        )
    }
}

/// `projects/P/locations/L/backupCollections/C/backups/B` (optionally prefixed with
/// `//redis.googleapis.com/`); returns the location.
pub fn gcp_backup(name: &str) -> Result<&str, Broken> {
    let shape = || {
        Broken("must be projects/<project>/locations/<region>/backupCollections/<collection>/backups/<backup>".into())
    };
    let rest = name.strip_prefix("//redis.googleapis.com/").unwrap_or(name);
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [
            "projects",
            p,
            "locations",
            l,
            "backupCollections",
            c,
            "backups",
            b,
        ] if !c.is_empty() && !b.is_empty() && c.len() <= 128 && b.len() <= 128 => {
            gcp_project(p).map_err(|_| shape())?;
            region(l).map_err(|_| shape())?;
            Ok(l)
        }
        _ => Err(shape()),
    }
}

pub fn gcs_uri(uri: &str) -> Result<(), Broken> {
    let shape = || Broken("must be a Cloud Storage object gs://BUCKET/OBJECT".into());
    let rest = uri.strip_prefix("gs://").ok_or_else(shape)?;
    let (bucket, object) = rest.split_once('/').ok_or_else(shape)?;
    let bucket_ok = (3..=222).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok || object.is_empty() || object.chars().any(char::is_whitespace) {
        return Err(shape());
    }
    if uri.len() > GCS_URI_MAX {
        return broken(format!("must be at most {GCS_URI_MAX} characters"));
    }
    Ok(())
}

pub fn aws_snapshot_name(name: &str) -> Result<(), Broken> {
    let ok = (1..=255).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        broken(
            "must be an ElastiCache snapshot name: 1–255 letters, digits, '-', '.' or ':', starting with a letter",
        )
    }
}

/// `arn:aws:s3:::BUCKET/KEY` of an RDB file.
pub fn s3_rdb_arn(arn: &str) -> Result<(), Broken> {
    let shape =
        || Broken("must be the ARN of an S3 object, arn:aws:s3:::BUCKET/KEY (no commas)".into());
    let rest = arn
        .strip_prefix("arn:")
        .and_then(|r| r.split_once(":s3:::"))
        .filter(|(partition, _)| partition.starts_with("aws"))
        .map(|(_, r)| r)
        .ok_or_else(shape)?;
    let (bucket, key) = rest.split_once('/').ok_or_else(shape)?;
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok || key.is_empty() || key.contains(',') || key.chars().any(char::is_whitespace) {
        return Err(shape());
    }
    Ok(())
}

/// `projects/P/locations/L/keyRings/R/cryptoKeys/K`; returns the key's location.
pub fn gcp_kms_key(key: &str) -> Result<&str, Broken> {
    let shape = || {
        Broken("must be a Cloud KMS key projects/<project>/locations/<region>/keyRings/<ring>/cryptoKeys/<key>".into())
    };
    let id_ok = |s: &str| {
        (1..=63).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
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
        ] if id_ok(r) && id_ok(k) && !l.is_empty() => {
            gcp_project(p).map_err(|_| shape())?;
            Ok(l)
        }
        _ => Err(shape()),
    }
}

/// An AWS KMS key: key ID, key ARN, alias name or alias ARN. Returns the ARN's region, if any.
pub fn aws_kms_key(key: &str) -> Result<Option<&str>, Broken> {
    let shape = || {
        Broken("must be a KMS key ID (1234abcd-12ab-34cd-56ef-1234567890ab or mrk-…), key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), alias name (alias/NAME) or alias ARN".into())
    };
    let key_id = |s: &str| {
        let uuid = s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if matches!(i, 8 | 13 | 18 | 23) {
                    c == '-'
                } else {
                    c.is_ascii_digit() || ('a'..='f').contains(&c)
                }
            });
        let mrk = s.strip_prefix("mrk-").is_some_and(|h| {
            h.len() == 32
                && h.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
        uuid || mrk
    };
    let alias = |s: &str| {
        s.strip_prefix("alias/").is_some_and(|n| {
            (1..=250).contains(&n.len())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))
        })
    };
    if key_id(key) || alias(key) {
        return Ok(None);
    }
    let parts: Vec<&str> = key.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "kms", region, account, resource]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && (resource.strip_prefix("key/").is_some_and(key_id) || alias(resource)) =>
        {
            Ok(Some(region))
        }
        _ => Err(shape()),
    }
}

/// Characters of the AUTH tokens the operator generates: letters and digits only, which both
/// CreateReplicationGroup (only `!&#$^<>-` besides letters and digits) and
/// ModifyReplicationGroup (no `/"@%`) accept.
pub const AUTH_TOKEN_LEN: usize = 64;
