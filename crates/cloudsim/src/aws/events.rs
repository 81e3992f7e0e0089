//! ElastiCache events (`DescribeEvents`): what happened to a replication group, its cache clusters,
//! a parameter group, a subnet group, a user or a user group, kept for 14 days as the service keeps
//! them ("you can retrieve up to 14 days' worth of events"), newest first, the last hour unless a
//! window is asked for.
//!
//! Messages with a known service wording use it ("Cache cluster created", "Added cache node 0001
//! in availability zone …", "Snapshot succeeded for snapshot with ID '…' of replication group with
//! ID '…'", from the API reference's examples); the others are cloudsim's.

use std::collections::VecDeque;
use std::time::Duration;

use jiff::Timestamp;

use super::common::{Ctx, page_args};
use super::error::AwsError;
use super::params::Params;
use super::xml::El;
use crate::util::rfc3339_millis;

/// How long events are kept.
pub const RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);
/// The window of a call that names none.
const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);
/// Most events kept per region, so that a long scale run cannot grow the log without bound.
const MAX_EVENTS: usize = 100_000;

/// `SourceType` (the model's enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceType {
    CacheCluster,
    CacheParameterGroup,
    CacheSecurityGroup,
    CacheSubnetGroup,
    ReplicationGroup,
    ServerlessCache,
    ServerlessCacheSnapshot,
    User,
    UserGroup,
}

const SOURCE_TYPES: &[(SourceType, &str)] = &[
    (SourceType::CacheCluster, "cache-cluster"),
    (SourceType::CacheParameterGroup, "cache-parameter-group"),
    (SourceType::CacheSecurityGroup, "cache-security-group"),
    (SourceType::CacheSubnetGroup, "cache-subnet-group"),
    (SourceType::ReplicationGroup, "replication-group"),
    (SourceType::ServerlessCache, "serverless-cache"),
    (
        SourceType::ServerlessCacheSnapshot,
        "serverless-cache-snapshot",
    ),
    (SourceType::User, "user"),
    (SourceType::UserGroup, "user-group"),
];

impl SourceType {
    pub fn as_str(self) -> &'static str {
        SOURCE_TYPES
            .iter()
            .find(|(t, _)| *t == self)
            .map_or("", |(_, s)| s)
    }

    fn parse(s: &str) -> Result<Self, AwsError> {
        SOURCE_TYPES
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(t, _)| *t)
            .ok_or_else(|| {
                AwsError::invalid_value(format!(
                    "Invalid SourceType {s:?}: use one of {}.",
                    SOURCE_TYPES
                        .iter()
                        .map(|(_, n)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    /// Increases with every event of the region: the paging marker.
    seq: u64,
    pub date: Timestamp,
    pub source_type: SourceType,
    pub source_id: String,
    pub message: String,
}

impl Event {
    fn xml(&self) -> El {
        El::node(
            "Event",
            vec![
                El::text("SourceIdentifier", &self.source_id),
                El::text("SourceType", self.source_type.as_str()),
                El::text("Message", &self.message),
                El::text("Date", rfc3339_millis(self.date)),
            ],
        )
    }
}

/// The events of one region, oldest first.
#[derive(Debug, Default)]
pub struct Log {
    events: VecDeque<Event>,
    next_seq: u64,
}

impl Log {
    pub fn record(&mut self, source_type: SourceType, source_id: &str, message: impl Into<String>) {
        let now = Timestamp::now();
        self.next_seq += 1;
        self.events.push_back(Event {
            seq: self.next_seq,
            date: now,
            source_type,
            source_id: source_id.to_owned(),
            message: message.into(),
        });
        let oldest = now - RETENTION;
        while self
            .events
            .front()
            .is_some_and(|e| e.date < oldest || self.events.len() > MAX_EVENTS)
        {
            self.events.pop_front();
        }
    }

    /// Every event kept, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Event> {
        self.events.iter()
    }
}

fn timestamp(p: &Params, name: &str) -> Result<Option<Timestamp>, AwsError> {
    p.get(name)
        .map(|v| {
            v.parse::<Timestamp>().map_err(|_| {
                AwsError::invalid_value(format!(
                    "Invalid {name} {v:?}: use an ISO 8601 timestamp such as 2017-03-30T07:03:49.555Z."
                ))
            })
        })
        .transpose()
}

/// The interval `[start, end]` of a DescribeEvents call.
fn window(p: &Params, now: Timestamp) -> Result<(Timestamp, Timestamp), AwsError> {
    let start = timestamp(p, "StartTime")?;
    let end = timestamp(p, "EndTime")?;
    let duration = match p.int("Duration")? {
        Some(m) if m < 0 => {
            return Err(AwsError::invalid_value(format!(
                "Duration must not be negative; got {m}."
            )));
        }
        Some(m) => Some(Duration::from_secs(m.unsigned_abs().saturating_mul(60))),
        None => None,
    };
    let (start, end) = match (start, end, duration) {
        (Some(s), Some(e), _) => (s, e),
        (Some(s), None, Some(d)) => (s, s + d),
        (Some(s), None, None) => (s, now),
        (None, e, d) => {
            let e = e.unwrap_or(now);
            (
                e.checked_sub(d.unwrap_or(DEFAULT_WINDOW))
                    .unwrap_or(Timestamp::MIN),
                e,
            )
        }
    };
    if start > end {
        return Err(AwsError::invalid_combination(
            "StartTime must be before EndTime.",
        ));
    }
    Ok((start, end))
}

pub fn describe_events(ctx: &Ctx, p: &Params) -> Result<Vec<El>, AwsError> {
    let (size, after) = page_args(p, 100)?;
    let after: Option<u64> = after
        .map(|m| {
            m.parse()
                .map_err(|_| AwsError::invalid_value(format!("Invalid Marker {m:?}.")))
        })
        .transpose()?;
    let source_type = p.get("SourceType").map(SourceType::parse).transpose()?;
    let source_id = p.get("SourceIdentifier").map(str::to_ascii_lowercase);
    if source_id.is_some() && source_type.is_none() {
        return Err(AwsError::invalid_combination(
            "SourceType must be specified with SourceIdentifier.",
        ));
    }
    let (start, end) = window(p, Timestamp::now())?;
    ctx.with_region(|region| {
        let mut matching = region
            .events
            .iter()
            .rev()
            .filter(|e| after.is_none_or(|a| e.seq < a))
            .filter(|e| e.date >= start && e.date <= end)
            .filter(|e| source_type.is_none_or(|t| e.source_type == t))
            .filter(|e| {
                source_id
                    .as_deref()
                    .is_none_or(|id| e.source_id.eq_ignore_ascii_case(id))
            });
        let page: Vec<&Event> = matching.by_ref().take(size).collect();
        let more = matching.next().is_some();
        let mut out = Vec::new();
        if more && let Some(last) = page.last() {
            out.push(El::text(
                "Marker",
                crate::util::encode_page_token(&last.seq.to_string()),
            ));
        }
        out.push(El::node(
            "Events",
            page.into_iter().map(Event::xml).collect(),
        ));
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_fourteen_days_and_a_bounded_number() {
        let mut log = Log::default();
        log.record(SourceType::ReplicationGroup, "a", "one");
        log.record(SourceType::CacheCluster, "a-001", "two");
        assert_eq!(log.iter().count(), 2);
        log.events[0].date = Timestamp::now() - RETENTION - Duration::from_secs(1);
        log.record(SourceType::User, "u", "three");
        let kept: Vec<&str> = log.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(kept, ["two", "three"]);
    }

    #[test]
    fn windows_default_to_the_last_hour() {
        let now: Timestamp = "2024-04-01T12:00:00Z".parse().unwrap();
        let p = Params::from_pairs(&[]);
        assert_eq!(
            window(&p, now).unwrap(),
            ("2024-04-01T11:00:00Z".parse().unwrap(), now)
        );
        let p = Params::from_pairs(&[("Duration", "20160")]);
        assert_eq!(
            window(&p, now).unwrap().0,
            "2024-03-18T12:00:00Z".parse().unwrap()
        );
        let p = Params::from_pairs(&[("StartTime", "2024-04-01T13:00:00Z")]);
        assert_eq!(
            window(&p, now).unwrap_err().code,
            "InvalidParameterCombination"
        );
        let p = Params::from_pairs(&[("Duration", "-1")]);
        assert_eq!(window(&p, now).unwrap_err().code, "InvalidParameterValue");
        assert_eq!(
            SourceType::parse("replication-group").unwrap(),
            SourceType::ReplicationGroup
        );
        assert!(SourceType::parse("cluster").is_err());
    }
}
