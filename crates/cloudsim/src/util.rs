//! Small shared helpers: timestamps in the clouds' formats, random ids, opaque page tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use rand::Rng;

/// `2024-04-01T12:34:56.123456Z`, as Google APIs print timestamps.
pub fn rfc3339_micros(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// `2024-04-01T12:34:56.123Z`, as AWS query APIs print timestamps.
pub fn rfc3339_millis(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A random string of `n` lowercase hex digits.
pub fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A random decimal id of `n` digits without a leading zero (Google uids, PSC connection ids).
pub fn random_digits(n: usize) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(n);
    s.push(char::from_digit(rng.random_range(1..10), 10).unwrap_or('1'));
    for _ in 1..n {
        s.push(char::from_digit(rng.random_range(0..10), 10).unwrap_or('0'));
    }
    s
}

/// A URL-safe random secret with `bytes` bytes of entropy.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Opaque continuation token: the key after which the next page starts.
pub fn encode_page_token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key.as_bytes())
}

pub fn decode_page_token(token: &str) -> Option<String> {
    URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
}

/// Where a sorted-map scan for the next page starts: at the continuation key when it lies under `prefix`.
pub fn page_start(prefix: &str, after: Option<&str>) -> String {
    after
        .filter(|a| a.starts_with(prefix))
        .unwrap_or(prefix)
        .to_owned()
}

/// One page of `items` (already sorted by key) after `after`, and the token for the next page.
pub fn paginate<T>(
    items: impl Iterator<Item = (String, T)>,
    after: Option<&str>,
    page_size: usize,
) -> (Vec<T>, Option<String>) {
    let mut page = Vec::new();
    let mut last = None;
    let mut more = false;
    for (key, item) in items {
        if after.is_some_and(|a| key.as_str() <= a) {
            continue;
        }
        if page.len() == page_size {
            more = true;
            break;
        }
        last = Some(key);
        page.push(item);
    }
    let next = if more {
        last.map(|k| encode_page_token(&k))
    } else {
        None
    };
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_use_fixed_precision() {
        let t: Timestamp = "2024-04-01T12:34:56.5Z".parse().unwrap();
        assert_eq!(rfc3339_micros(t), "2024-04-01T12:34:56.500000Z");
        assert_eq!(rfc3339_millis(t), "2024-04-01T12:34:56.500Z");
    }

    #[test]
    fn pagination_walks_every_item_once() {
        let items: Vec<(String, u32)> = (0..7).map(|i| (format!("k{i}"), i)).collect();
        let (p1, t1) = paginate(items.clone().into_iter(), None, 3);
        assert_eq!(p1, vec![0, 1, 2]);
        let after = decode_page_token(&t1.unwrap()).unwrap();
        let (p2, t2) = paginate(items.clone().into_iter(), Some(&after), 3);
        assert_eq!(p2, vec![3, 4, 5]);
        let after = decode_page_token(&t2.unwrap()).unwrap();
        let (p3, t3) = paginate(items.into_iter(), Some(&after), 3);
        assert_eq!(p3, vec![6]);
        assert!(t3.is_none());
    }

    #[test]
    fn random_ids_have_the_asked_shape() {
        assert_eq!(random_hex(12).len(), 12);
        let d = random_digits(21);
        assert_eq!(d.len(), 21);
        assert!(!d.starts_with('0'));
    }
}
