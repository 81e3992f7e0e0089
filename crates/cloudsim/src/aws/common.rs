//! What every ElastiCache action module shares: the call's context (the simulator, its account
//! and the region of the credential scope), the data-plane key of a replication group, tags, and
//! `Describe*` paging.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::AwsError;
use super::model::{MAX_TAGS, Region, Tags};
use super::params::Params;
use crate::dataplane::BackendKey;
use crate::sim::Shared;
use crate::util::{decode_page_token, page_start, paginate};

/// One call: which simulator, account and region it addresses.
pub struct Ctx<'a> {
    pub shared: &'a Arc<Shared>,
    pub region: &'a str,
}

impl Ctx<'_> {
    pub fn account(&self) -> &str {
        self.shared.config.aws_account_id.as_str()
    }

    /// `arn:aws:elasticache:REGION:ACCOUNT:KIND:ID`.
    pub fn arn(&self, kind: &str, id: &str) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:{kind}:{id}",
            self.region,
            self.account()
        )
    }

    pub(crate) fn with_region<T>(&self, f: impl FnOnce(&mut Region) -> T) -> T {
        let account = self.account().to_owned();
        let mut aws = self.shared.aws.lock().expect("aws lock");
        let region = aws
            .regions
            .entry(self.region.to_owned())
            .or_insert_with(|| Region::new(self.region, &account));
        f(region)
    }
}

pub(crate) fn key(region: &str, id: &str) -> BackendKey {
    BackendKey::Aws {
        region: region.to_owned(),
        id: id.to_owned(),
    }
}

/// `Tags.Tag.N.Key/Value` of a create call (a repeated key keeps its last value).
pub(crate) fn parse_tags(p: &Params) -> Result<Tags, AwsError> {
    let mut out: Tags = Vec::new();
    for t in p.structs("Tags", "Tag") {
        let k = t
            .get("Key")
            .filter(|k| !k.is_empty())
            .ok_or_else(|| AwsError::invalid_value("Tag keys must not be empty."))?;
        let v = t.get("Value").map(str::to_owned);
        match out.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1 = v,
            None => out.push((k.to_owned(), v)),
        }
    }
    if out.len() > MAX_TAGS {
        return Err(AwsError::new(
            "TagQuotaPerResourceExceeded",
            400,
            format!("A resource can have at most {MAX_TAGS} tags."),
        ));
    }
    Ok(out)
}

/// `MaxRecords` (20 up to `max`, which is also the default) and `Marker` of a Describe call.
pub(crate) fn page_args(p: &Params, max: i64) -> Result<(usize, Option<String>), AwsError> {
    let size = match p.int("MaxRecords")? {
        None => max,
        Some(n) if (20..=max).contains(&n) => n,
        Some(n) => {
            return Err(AwsError::invalid_value(format!(
                "The value of MaxRecords must be between 20 and {max}; got {n}."
            )));
        }
    };
    let after = match p.get("Marker") {
        None | Some("") => None,
        Some(m) => Some(
            decode_page_token(m)
                .ok_or_else(|| AwsError::invalid_value(format!("Invalid Marker {m:?}.")))?,
        ),
    };
    Ok((usize::try_from(size).unwrap_or(20), after))
}

/// One page of a sorted map after the marker, and the next marker.
pub(crate) fn paged<'a, T>(
    map: &'a BTreeMap<String, T>,
    after: Option<&str>,
    size: usize,
    keep: impl Fn(&T) -> bool,
) -> (Vec<&'a T>, Option<String>) {
    let items = map
        .range(page_start("", after)..)
        .filter(|(_, v)| keep(v))
        .map(|(k, v)| (k.clone(), v));
    paginate(items, after, size)
}
