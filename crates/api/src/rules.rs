//! The value rules of both clouds, in one place.
//!
//! Each rule exists three times in the product — as a Rust check (here), as an OpenAPI
//! `pattern`/`enum`/range in the CRD schema, and as a CEL rule where it spans fields — and the
//! patterns below are the single source the schema attributes use. The Rust checks give the
//! precise message; the schema gives the API server something to refuse with.

use std::fmt;

/// Why a value breaks a rule, phrased to follow `<field>: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken(pub String);

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn broken(msg: impl Into<String>) -> Result<(), Broken> {
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
pub const AWS_ENGINE_VERSION_PATTERN: &str = "^[0-9]+\\.[0-9]+(\\.[0-9]+)?$";
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

pub fn aws_engine_version(v: &str) -> Result<(u32, u32), Broken> {
    let shape = || Broken("must be a version such as 7.1 or 8.0".into());
    let mut parts = v.split('.');
    let major = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(shape)?;
    let minor = parts
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(shape)?;
    if let Some(patch) = parts.next() {
        patch.parse::<u32>().map_err(|_| shape())?;
    }
    if parts.next().is_some() {
        return Err(shape());
    }
    Ok((major, minor))
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
