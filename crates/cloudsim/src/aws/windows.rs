//! The time windows of a replication group and the checks of the values clients send:
//! `PreferredMaintenanceWindow` (`ddd:hh24:mi-ddd:hh24:mi`, UTC, "the minimum maintenance window
//! is a 60 minute period"), `SnapshotWindow` (`hh24:mi-hh24:mi`, UTC), AUTH tokens and KMS keys.

use super::error::AwsError;

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const WEEK: u32 = 7 * 24 * 60;

fn hh_mi(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn week_minute(s: &str) -> Option<u32> {
    let (day, time) = s.split_once(':')?;
    let day = DAYS.iter().position(|d| d.eq_ignore_ascii_case(day))?;
    Some(day as u32 * 24 * 60 + hh_mi(time)?)
}

/// Checks a `PreferredMaintenanceWindow` and returns it as the service stores it (lowercase
/// days).
pub fn maintenance_window(value: &str) -> Result<String, AwsError> {
    let shape = || {
        AwsError::invalid_value(format!(
            "Invalid PreferredMaintenanceWindow {value:?}: use the format ddd:hh24:mi-ddd:hh24:mi (UTC), e.g. sun:23:00-mon:01:30."
        ))
    };
    let (a, b) = value.split_once('-').ok_or_else(shape)?;
    let (start, end) = (
        week_minute(a).ok_or_else(shape)?,
        week_minute(b).ok_or_else(shape)?,
    );
    let minutes = (end + WEEK - start) % WEEK;
    if minutes < 60 {
        return Err(AwsError::invalid_value(format!(
            "The maintenance window {value} is {minutes} minutes long; the minimum maintenance window is a 60 minute period."
        )));
    }
    Ok(value.to_ascii_lowercase())
}

/// Checks a `SnapshotWindow`.
pub fn snapshot_window(value: &str) -> Result<String, AwsError> {
    let ok = value
        .split_once('-')
        .is_some_and(|(a, b)| hh_mi(a).is_some() && hh_mi(b).is_some());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(AwsError::invalid_value(format!(
            "Invalid SnapshotWindow {value:?}: use the format hh24:mi-hh24:mi (UTC), e.g. 05:00-09:00."
        )))
    }
}

/// `AuthToken` on CreateReplicationGroup: 16–128 printable characters; "the only permitted
/// printable special characters are !, &, #, $, ^, <, >, and -".
pub fn create_auth_token(token: &str) -> Result<(), AwsError> {
    let ok = (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!&#$^<>-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AwsError::invalid_value(
            "Invalid AuthToken: it must be 16 to 128 characters; besides letters and digits only ! & # $ ^ < > - are permitted.",
        ))
    }
}

/// `AuthToken` on ModifyReplicationGroup: 16–128 printable ASCII characters without `/`, `"`,
/// `@` or `%`.
pub fn modify_auth_token(token: &str) -> Result<(), AwsError> {
    let ok = (16..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !b"/\"@%".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AwsError::invalid_value(
            "Invalid AuthToken: it must be 16 to 128 printable ASCII characters and cannot contain '/', '\"', '@' or '%'.",
        ))
    }
}

/// A KMS key as KMS names them: key ID (UUID or `mrk-…`), key ARN, alias name or alias ARN.
pub fn kms_key(key: &str) -> Result<(), AwsError> {
    let hex = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    };
    let key_id = |s: &str| {
        let parts: Vec<&str> = s.split('-').collect();
        let uuid = parts.len() == 5
            && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
            && parts.iter().all(|p| hex(p));
        uuid || s
            .strip_prefix("mrk-")
            .is_some_and(|h| h.len() == 32 && hex(h))
    };
    let alias = |s: &str| {
        s.strip_prefix("alias/").is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 250
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_-".contains(c))
        })
    };
    let arn = |s: &str| {
        let p: Vec<&str> = s.splitn(6, ':').collect();
        matches!(p.as_slice(), ["arn", partition, "kms", region, account, resource]
            if partition.starts_with("aws") && !region.is_empty() && account.len() == 12
                && (resource.strip_prefix("key/").is_some_and(key_id) || alias(resource)))
    };
    if key_id(key) || alias(key) || arn(key) {
        Ok(())
    } else {
        Err(AwsError::invalid_value(format!(
            "Invalid KmsKeyId {key:?}: use a key ID, key ARN, alias name or alias ARN."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_windows_are_at_least_an_hour() {
        assert_eq!(
            maintenance_window("Sun:23:00-Mon:01:30").unwrap(),
            "sun:23:00-mon:01:30"
        );
        assert!(
            maintenance_window("sat:23:30-sun:00:30").is_ok(),
            "wraps the week"
        );
        assert!(maintenance_window("sun:23:00-sun:23:59").is_err());
        assert!(maintenance_window("sunday:23:00-mon:01:30").is_err());
        assert!(maintenance_window("sun:23:00").is_err());
    }

    #[test]
    fn tokens_follow_each_operations_rule() {
        assert!(create_auth_token("letters-and-digits-123").is_ok());
        assert!(create_auth_token("with-a-star*-0123456789").is_err());
        assert!(modify_auth_token("with-a-star*-0123456789").is_ok());
        assert!(modify_auth_token("with-a-percent%-0123456789").is_err());
        assert!(modify_auth_token("short").is_err());
    }

    #[test]
    fn kms_keys_take_the_four_kms_forms() {
        for ok in [
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/cache",
            "arn:aws:kms:us-east-1:111122223333:alias/cache",
        ] {
            assert!(kms_key(ok).is_ok(), "{ok}");
        }
        for bad in ["key", "alias/", "arn:aws:kms:us-east-1:1:key/x"] {
            assert!(kms_key(bad).is_err(), "{bad}");
        }
    }
}
