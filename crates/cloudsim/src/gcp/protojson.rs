//! Reading request bodies the way Google's proto-JSON parser does: lowerCamel or snake_case keys, enums as
//! names or numbers, int32 as numbers or strings, unknown fields refused with the real wording.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::RpcError;

/// A proto enum with its JSON names and numbers.
pub trait ProtoEnum: Sized + Copy + PartialEq + 'static {
    /// The proto type as parse errors name it: fully qualified (`google.type.DayOfWeek`), or relative
    /// to the API's package (`AutomatedBackupConfig.AutomatedBackupMode`) for a type both Memorystore
    /// APIs define alike.
    const TYPE: &'static str;
    const VALUES: &'static [(&'static str, i32, Self)];

    fn name(self) -> &'static str {
        Self::VALUES
            .iter()
            .find(|(_, _, v)| *v == self)
            .map_or("", |(n, _, _)| n)
    }

    fn number(self) -> i32 {
        Self::VALUES
            .iter()
            .find(|(_, _, v)| *v == self)
            .map_or(0, |(_, n, _)| *n)
    }

    /// JSON form of the value: its name, or its number when the client asked for `enum-encoding=int`.
    fn json(self, ints: bool) -> Value {
        if ints {
            Value::from(self.number())
        } else {
            Value::from(self.name())
        }
    }

    fn from_number(n: i32) -> Option<Self> {
        Self::VALUES
            .iter()
            .find(|(_, k, _)| *k == n)
            .map(|(_, _, e)| *e)
    }

    fn parse(v: &Value) -> Option<Self> {
        match v {
            Value::String(s) => Self::VALUES
                .iter()
                .find(|(n, _, _)| n == s)
                .map(|(_, _, e)| *e),
            Value::Number(n) => {
                let n = n.as_i64()?;
                Self::VALUES
                    .iter()
                    .find(|(_, k, _)| i64::from(*k) == n)
                    .map(|(_, _, e)| *e)
            }
            _ => None,
        }
    }
}

/// Declares a proto enum: `proto_enum!(Name, "pkg.Type", { A = 0, B = 1 });`
macro_rules! proto_enum {
    ($name:ident, $ty:literal, { $($variant:ident = $num:literal),+ $(,)? }) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }
        impl $crate::gcp::protojson::ProtoEnum for $name {
            const TYPE: &'static str = $ty;
            const VALUES: &'static [(&'static str, i32, Self)] = &[$((stringify!($variant), $num, $name::$variant)),+];
        }
    };
}
pub(crate) use proto_enum;

pub fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn type_error(path: &str, kind: &str, v: &Value) -> RpcError {
    let shown = match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    RpcError::bad_field(path, format!("Invalid value at '{path}' ({kind}), {shown}"))
}

/// An enum value of any proto type, kept for rendering (a backup's node type, whichever API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumValue {
    pub name: &'static str,
    pub number: i32,
}

impl EnumValue {
    pub fn of<E: ProtoEnum>(e: E) -> Self {
        Self {
            name: e.name(),
            number: e.number(),
        }
    }

    pub fn json(self, ints: bool) -> Value {
        if ints {
            Value::from(self.number)
        } else {
            Value::from(self.name)
        }
    }
}

/// One JSON object being read field by field; `finish` refuses whatever was not read.
#[derive(Debug)]
pub struct Obj {
    map: Map<String, Value>,
    path: String,
    /// The API's proto package, for the names of package-relative enum types in errors.
    package: &'static str,
}

impl Obj {
    /// `path` is the snake_case location used in error messages, e.g. `cluster`.
    pub fn new(v: Value, path: &str) -> Result<Self, RpcError> {
        match v {
            Value::Object(map) => Ok(Self {
                map,
                path: path.to_owned(),
                package: "",
            }),
            Value::Null => Ok(Self {
                map: Map::new(),
                path: path.to_owned(),
                package: "",
            }),
            other => Err(type_error(path, "TYPE_MESSAGE", &other)),
        }
    }

    /// Parses an HTTP body; an empty body is an empty message.
    pub fn from_body(body: &[u8], path: &str) -> Result<Self, RpcError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Self::new(Value::Null, path);
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| RpcError::invalid(format!("Invalid JSON payload received. {e}")))?;
        Self::new(v, path)
    }

    /// Reads the message as part of the API whose proto package is `package`.
    pub fn in_package(mut self, package: &'static str) -> Self {
        self.package = package;
        self
    }

    /// Where this message is in the request, e.g. `instance.persistence_config`.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn child(&self, v: Value, path: &str) -> Result<Obj, RpcError> {
        Obj::new(v, path).map(|o| o.in_package(self.package))
    }

    fn field_path(&self, camel: &str) -> String {
        format!("{}.{}", self.path, snake_case(camel))
    }

    /// Removes a field by its lowerCamel name (or its snake_case twin); null counts as absent.
    pub fn take(&mut self, camel: &str) -> Option<Value> {
        let v = self
            .map
            .remove(camel)
            .or_else(|| self.map.remove(&snake_case(camel)));
        v.filter(|v| !v.is_null())
    }

    pub fn ignore(&mut self, camels: &[&str]) {
        for c in camels {
            self.take(c);
        }
    }

    pub fn string(&mut self, camel: &str) -> Result<Option<String>, RpcError> {
        match self.take(camel) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(type_error(&self.field_path(camel), "TYPE_STRING", &other)),
        }
    }

    pub fn int32(&mut self, camel: &str) -> Result<Option<i32>, RpcError> {
        let Some(v) = self.take(camel) else {
            return Ok(None);
        };
        let n = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        n.and_then(|n| i32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| type_error(&self.field_path(camel), "TYPE_INT32", &v))
    }

    pub fn boolean(&mut self, camel: &str) -> Result<Option<bool>, RpcError> {
        match self.take(camel) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(type_error(&self.field_path(camel), "TYPE_BOOL", &other)),
        }
    }

    pub fn enumeration<E: ProtoEnum>(&mut self, camel: &str) -> Result<Option<E>, RpcError> {
        let Some(v) = self.take(camel) else {
            return Ok(None);
        };
        E::parse(&v).map(Some).ok_or_else(|| {
            let ty = if E::TYPE.starts_with("google.") || self.package.is_empty() {
                E::TYPE.to_owned()
            } else {
                format!("{}.{}", self.package, E::TYPE)
            };
            type_error(
                &self.field_path(camel),
                &format!("type.googleapis.com/{ty}"),
                &v,
            )
        })
    }

    pub fn object(&mut self, camel: &str) -> Result<Option<Obj>, RpcError> {
        let path = self.field_path(camel);
        self.take(camel).map(|v| self.child(v, &path)).transpose()
    }

    pub fn array(&mut self, camel: &str) -> Result<Option<Vec<Value>>, RpcError> {
        match self.take(camel) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(type_error(&self.field_path(camel), "TYPE_MESSAGE", &other)),
        }
    }

    /// The elements of a repeated message field, each as an [`Obj`].
    pub fn objects(&mut self, camel: &str) -> Result<Option<Vec<Obj>>, RpcError> {
        let path = self.field_path(camel);
        let items = self.array(camel)?;
        items
            .map(|items| items.into_iter().map(|v| self.child(v, &path)).collect())
            .transpose()
    }

    pub fn string_map(
        &mut self,
        camel: &str,
    ) -> Result<Option<BTreeMap<String, String>>, RpcError> {
        let path = self.field_path(camel);
        match self.take(camel) {
            None => Ok(None),
            Some(Value::Object(m)) => m
                .into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k, s)),
                    other => Err(type_error(&format!("{path}[{k}]"), "TYPE_STRING", &other)),
                })
                .collect::<Result<_, _>>()
                .map(Some),
            Some(other) => Err(type_error(&path, "TYPE_MESSAGE", &other)),
        }
    }

    /// A field kept as raw JSON (messages the simulator stores but does not interpret).
    pub fn raw(&mut self, camel: &str) -> Option<Value> {
        self.take(camel)
    }

    /// Refuses any field that was not read, with the wording of Google's JSON parser.
    pub fn finish(self) -> Result<(), RpcError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(RpcError::bad_field(
                &self.path,
                format!(
                    "Invalid JSON payload received. Unknown name \"{k}\" at '{}': Cannot find field.",
                    self.path
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    proto_enum!(Color, "test.v1.Color", { COLOR_UNSPECIFIED = 0, RED = 1, BLUE = 2 });

    #[test]
    fn reads_camel_and_snake_keys_and_refuses_unknown_ones() {
        let mut o = Obj::new(
            json!({"shard_count": "3", "nodeType": 2, "extra": true}),
            "cluster",
        )
        .unwrap();
        assert_eq!(o.int32("shardCount").unwrap(), Some(3));
        assert_eq!(
            o.enumeration::<Color>("nodeType").unwrap(),
            Some(Color::BLUE)
        );
        let err = o.finish().unwrap_err();
        assert_eq!(
            err.message,
            "Invalid JSON payload received. Unknown name \"extra\" at 'cluster': Cannot find field."
        );
    }

    #[test]
    fn wrong_values_name_the_field_and_type() {
        let mut o = Obj::new(json!({"nodeType": "GREEN", "shardCount": 1.5}), "cluster").unwrap();
        let e = o.enumeration::<Color>("nodeType").unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value at 'cluster.node_type' (type.googleapis.com/test.v1.Color), \"GREEN\""
        );
        let e = o.int32("shardCount").unwrap_err();
        assert_eq!(
            e.message,
            "Invalid value at 'cluster.shard_count' (TYPE_INT32), 1.5"
        );
    }

    #[test]
    fn enums_render_as_names_or_numbers() {
        assert_eq!(Color::RED.json(false), json!("RED"));
        assert_eq!(Color::RED.json(true), json!(1));
        assert_eq!(
            camel_case("deletion_protection_enabled"),
            "deletionProtectionEnabled"
        );
        assert_eq!(
            snake_case("deletionProtectionEnabled"),
            "deletion_protection_enabled"
        );
    }
}
