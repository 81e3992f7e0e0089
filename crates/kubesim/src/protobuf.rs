//! Just enough of the Kubernetes protobuf encoding to accept the bodies kubectl's typed
//! clients send (`kubectl create secret|configmap|namespace|serviceaccount`): the `k8s\0`
//! envelope (`runtime.Unknown`) and the messages of those kinds. Responses are always JSON,
//! which these clients accept.

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\x00";

pub fn is_protobuf(content_type: &str) -> bool {
    content_type.split(';').next().unwrap_or_default().trim()
        == "application/vnd.kubernetes.protobuf"
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            2 => {
                let len = self.varint()? as usize;
                let end = self
                    .pos
                    .checked_add(len)
                    .filter(|e| *e <= self.buf.len())
                    .ok_or("truncated field")?;
                let b = &self.buf[self.pos..end];
                self.pos = end;
                Field::Bytes(b)
            }
            1 => {
                self.pos += 8;
                Field::Fixed
            }
            5 => {
                self.pos += 4;
                Field::Fixed
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        Ok(Some((key >> 3, field)))
    }
}

fn string(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

fn map_entry(b: &[u8], bytes_value: bool) -> Result<(String, Value), String> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = String::from_utf8_lossy(x).into_owned(),
            (2, Field::Bytes(x)) if bytes_value => {
                v = json!(base64::engine::general_purpose::STANDARD.encode(x))
            }
            (2, Field::Bytes(x)) => v = string(x),
            _ => {}
        }
    }
    Ok((k, v))
}

/// Decodes a message whose fields are strings, booleans, integers, string lists and maps.
fn message(b: &[u8], fields: &[(u64, &str, Kind)]) -> Result<Value, String> {
    let mut out = Map::new();
    let mut r = Reader::new(b);
    while let Some((n, f)) = r.next()? {
        let Some((_, name, kind)) = fields.iter().find(|(num, _, _)| *num == n) else {
            continue;
        };
        let name = name.to_string();
        match (kind, f) {
            // Go's protobuf writes unset strings as empty ones.
            (Kind::Str, Field::Bytes(x)) if !x.is_empty() => {
                out.insert(name, string(x));
            }
            (Kind::Bool, Field::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Kind::StrList, Field::Bytes(x)) => {
                out.entry(name)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .unwrap()
                    .push(string(x));
            }
            (Kind::StrMap | Kind::BytesMap, Field::Bytes(x)) => {
                let (k, v) = map_entry(x, matches!(kind, Kind::BytesMap))?;
                out.entry(name)
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .unwrap()
                    .insert(k, v);
            }
            (Kind::Msg(f), Field::Bytes(x)) => {
                out.insert(name, f(x)?);
            }
            (Kind::MsgList(f), Field::Bytes(x)) => {
                let v = f(x)?;
                out.entry(name)
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                    .unwrap()
                    .push(v);
            }
            _ => {}
        }
    }
    Ok(Value::Object(out))
}

type Decoder = fn(&[u8]) -> Result<Value, String>;

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    StrList,
    StrMap,
    BytesMap,
    Msg(Decoder),
    MsgList(Decoder),
}

fn owner_reference(b: &[u8]) -> Result<Value, String> {
    message(
        b,
        &[
            (1, "kind", Kind::Str),
            (3, "name", Kind::Str),
            (4, "uid", Kind::Str),
            (5, "apiVersion", Kind::Str),
            (6, "controller", Kind::Bool),
            (7, "blockOwnerDeletion", Kind::Bool),
        ],
    )
}

fn object_meta(b: &[u8]) -> Result<Value, String> {
    message(
        b,
        &[
            (1, "name", Kind::Str),
            (2, "generateName", Kind::Str),
            (3, "namespace", Kind::Str),
            (5, "uid", Kind::Str),
            (6, "resourceVersion", Kind::Str),
            (11, "labels", Kind::StrMap),
            (12, "annotations", Kind::StrMap),
            (13, "ownerReferences", Kind::MsgList(owner_reference)),
            (14, "finalizers", Kind::StrList),
        ],
    )
}

fn object_reference(b: &[u8]) -> Result<Value, String> {
    message(
        b,
        &[
            (1, "kind", Kind::Str),
            (2, "namespace", Kind::Str),
            (3, "name", Kind::Str),
            (4, "uid", Kind::Str),
            (5, "apiVersion", Kind::Str),
        ],
    )
}

fn local_object_reference(b: &[u8]) -> Result<Value, String> {
    message(b, &[(1, "name", Kind::Str)])
}

fn namespace_spec(b: &[u8]) -> Result<Value, String> {
    message(b, &[(1, "finalizers", Kind::StrList)])
}

fn body(kind: &str, raw: &[u8]) -> Result<Value, String> {
    let meta = (1, "metadata", Kind::Msg(object_meta));
    match kind {
        "Secret" => message(
            raw,
            &[
                meta,
                (2, "data", Kind::BytesMap),
                (3, "type", Kind::Str),
                (4, "stringData", Kind::StrMap),
                (5, "immutable", Kind::Bool),
            ],
        ),
        "ConfigMap" => message(
            raw,
            &[
                meta,
                (2, "data", Kind::StrMap),
                (3, "binaryData", Kind::BytesMap),
                (4, "immutable", Kind::Bool),
            ],
        ),
        "Namespace" => message(raw, &[meta, (2, "spec", Kind::Msg(namespace_spec))]),
        "ServiceAccount" => message(
            raw,
            &[
                meta,
                (2, "secrets", Kind::MsgList(object_reference)),
                (3, "imagePullSecrets", Kind::MsgList(local_object_reference)),
                (4, "automountServiceAccountToken", Kind::Bool),
            ],
        ),
        other => Err(format!(
            "protobuf bodies are not supported for kind {other}; send JSON"
        )),
    }
}

/// Decodes a `k8s\0`-enveloped protobuf object into its JSON form.
pub fn decode(buf: &[u8]) -> Result<Value, String> {
    let rest = buf
        .strip_prefix(MAGIC)
        .ok_or("the protobuf body lacks the k8s envelope")?;
    let mut r = Reader::new(rest);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                let t = message(tm, &[(1, "apiVersion", Kind::Str), (2, "kind", Kind::Str)])?;
                api_version = t["apiVersion"].as_str().unwrap_or_default().to_string();
                kind = t["kind"].as_str().unwrap_or_default().to_string();
            }
            (2, Field::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let mut v = body(&kind, raw)?;
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: u64, b: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3 | 2) as u8, b.len() as u8];
        out.extend_from_slice(b);
        out
    }

    #[test]
    fn decodes_a_secret_envelope() {
        let meta = [field(1, b"s1"), field(3, b"default")].concat();
        let entry = [field(1, b"a"), field(2, b"b")].concat();
        let secret = [field(1, &meta), field(2, &entry), field(3, b"Opaque")].concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let unknown = [field(1, &type_meta), field(2, &secret)].concat();
        let buf = [MAGIC.to_vec(), unknown].concat();
        let v = decode(&buf).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1", "namespace": "default"},
                   "data": {"a": "Yg=="}, "type": "Opaque"})
        );
    }
}
