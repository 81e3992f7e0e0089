//! Query-protocol parameters: `Name=value`, lists as `Name.member.N`, structures as `Name.Member.N.Field`.

use std::collections::BTreeMap;

use super::error::AwsError;

#[derive(Debug, Default, Clone)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Reads the form body and the query string (both carry parameters in the Query protocol).
    pub fn parse(body: &[u8], query: Option<&str>) -> Self {
        let mut map = BTreeMap::new();
        let from_query: Vec<(String, String)> = query
            .and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default();
        let from_body: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).unwrap_or_default();
        for (k, v) in from_query.into_iter().chain(from_body) {
            map.insert(k, v);
        }
        Self { map }
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            map: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    /// A copy with `key` set to `value` (settings the service fills in itself, e.g. those a
    /// Global Datastore secondary inherits).
    pub fn with(mut self, key: &str, value: impl ToString) -> Self {
        self.map.insert(key.to_owned(), value.to_string());
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
            || self
                .map
                .keys()
                .any(|k| k.starts_with(key) && k[key.len()..].starts_with('.'))
    }

    pub fn required(&self, key: &str) -> Result<&str, AwsError> {
        self.get(key).ok_or_else(|| AwsError::missing(key))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, AwsError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(AwsError::invalid_value(format!(
                "Invalid boolean value {v:?} for parameter {key}."
            ))),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>, AwsError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                AwsError::invalid_value(format!("Invalid integer value {v:?} for parameter {key}."))
            }),
        }
    }

    /// `base.member.1`, `base.member.2`, … in order. `Some(vec![])` when only the bare `base=` was sent.
    pub fn list(&self, base: &str, member: &str) -> Option<Vec<String>> {
        let prefix = format!("{base}.{member}.");
        let mut items: Vec<(u32, String)> = self
            .map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, v)| {
                k[prefix.len()..]
                    .parse::<u32>()
                    .ok()
                    .map(|n| (n, v.clone()))
            })
            .collect();
        if items.is_empty() {
            return self.map.contains_key(base).then(Vec::new);
        }
        items.sort_by_key(|(n, _)| *n);
        Some(items.into_iter().map(|(_, v)| v).collect())
    }

    /// `base.member.N.Field=value` grouped by N, each as a [`Params`] of its fields.
    pub fn structs(&self, base: &str, member: &str) -> Vec<Params> {
        let prefix = format!("{base}.{member}.");
        let mut groups: BTreeMap<u32, Params> = BTreeMap::new();
        for (k, v) in self
            .map
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            let rest = &k[prefix.len()..];
            if let Some((n, field)) = rest.split_once('.')
                && let Ok(n) = n.parse::<u32>()
            {
                groups
                    .entry(n)
                    .or_default()
                    .map
                    .insert(field.to_owned(), v.clone());
            }
        }
        groups.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_structs_follow_the_query_encoding() {
        let p = Params::parse(
            b"Action=CreateUserGroup&UserIds.member.2=b&UserIds.member.1=default&UserIds.member.10=z\
              &Tags.Tag.1.Key=team&Tags.Tag.1.Value=pay&Tags.Tag.2.Key=env&Empty=&Desc=a+b%20c",
            Some("Version=2015-02-02"),
        );
        assert_eq!(p.get("Version"), Some("2015-02-02"));
        assert_eq!(p.get("Desc"), Some("a b c"));
        assert_eq!(
            p.list("UserIds", "member").unwrap(),
            vec!["default", "b", "z"]
        );
        assert_eq!(p.list("Empty", "member").unwrap(), Vec::<String>::new());
        assert_eq!(p.list("Nothing", "member"), None);
        let tags = p.structs("Tags", "Tag");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].get("Key"), Some("team"));
        assert_eq!(tags[1].get("Value"), None);
        assert!(p.has("Tags"));
        assert!(!p.has("Tag"));
    }

    #[test]
    fn typed_values_are_checked() {
        let p = Params::from_pairs(&[("A", "TRUE"), ("B", "yes"), ("N", "x")]);
        assert_eq!(p.bool("A").unwrap(), Some(true));
        assert_eq!(p.bool("B").unwrap_err().code, "InvalidParameterValue");
        assert_eq!(p.int("N").unwrap_err().code, "InvalidParameterValue");
        assert_eq!(p.required("Z").unwrap_err().code, "MissingParameter");
    }
}
