//! The OpenAPI v2 document in protobuf, as the API server serves `/openapi/v2` to clients that
//! ask for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` — kubectl does, to
//! validate the items of a `kind: List` client-side. The message is gnostic's
//! `openapi.v2.Document` (github.com/google/gnostic-models, `openapiv2/OpenAPIv2.proto`); the
//! JSON document is translated node by node the way gnostic compiles it: known keys to their
//! fields, `x-` keys to vendor extensions whose values (like `default`, `enum`, `example`) are
//! carried as YAML text (JSON is YAML).

use serde_json::{Map, Value};

/// A protobuf message being written: fields in order, proto3 style (zero values left out).
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    /// A repeated string: every element, empty or not.
    fn strings(&mut self, field: u32, items: &[&str]) {
        for s in items {
            self.bytes(field, s.as_bytes());
        }
    }

    fn msg(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }

    fn bool(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v as u64);
        }
    }

    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn str_of<'a>(o: &'a Map<String, Value>, k: &str) -> &'a str {
    o.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// `Any { yaml }`: a value as YAML text.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &v.to_string());
    m
}

/// `NamedAny { name, value }` for each `x-…` key, in key order.
fn vendor_extensions(m: &mut Msg, field: u32, o: &Map<String, Value>) {
    for (k, v) in o.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut named = Msg::default();
        named.string(1, k);
        named.msg(2, any(v));
        m.msg(field, named);
    }
}

/// `openapi.v2.Schema`.
fn schema(v: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(o) = v.as_object() else {
        return m;
    };
    m.string(1, str_of(o, "$ref"));
    m.string(2, str_of(o, "format"));
    m.string(3, str_of(o, "title"));
    m.string(4, str_of(o, "description"));
    if let Some(d) = o.get("default") {
        m.msg(5, any(d));
    }
    let num = |k: &str| o.get(k).and_then(Value::as_f64).unwrap_or_default();
    let int = |k: &str| o.get(k).and_then(Value::as_i64).unwrap_or_default();
    let flag = |k: &str| o.get(k).and_then(Value::as_bool).unwrap_or_default();
    m.double(6, num("multipleOf"));
    m.double(7, num("maximum"));
    m.bool(8, flag("exclusiveMaximum"));
    m.double(9, num("minimum"));
    m.bool(10, flag("exclusiveMinimum"));
    m.int64(11, int("maxLength"));
    m.int64(12, int("minLength"));
    m.string(13, str_of(o, "pattern"));
    m.int64(14, int("maxItems"));
    m.int64(15, int("minItems"));
    m.bool(16, flag("uniqueItems"));
    m.int64(17, int("maxProperties"));
    m.int64(18, int("minProperties"));
    if let Some(Value::Array(req)) = o.get("required") {
        let names: Vec<&str> = req.iter().filter_map(Value::as_str).collect();
        m.strings(19, &names);
    }
    if let Some(Value::Array(values)) = o.get("enum") {
        for e in values {
            m.msg(20, any(e));
        }
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Msg::default();
            // A oneof member is written even when false.
            a.key(2, 0);
            a.varint(u64::from(*b));
            m.msg(21, a);
        }
        Some(s @ Value::Object(_)) => {
            let mut a = Msg::default();
            a.msg(1, schema(s));
            m.msg(21, a);
        }
        _ => {}
    }
    let types: Vec<&str> = match o.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let mut t = Msg::default();
        t.strings(1, &types);
        m.msg(22, t);
    }
    match o.get("items") {
        Some(s @ Value::Object(_)) => {
            let mut i = Msg::default();
            i.msg(1, schema(s));
            m.msg(23, i);
        }
        Some(Value::Array(list)) => {
            let mut i = Msg::default();
            for s in list {
                i.msg(1, schema(s));
            }
            m.msg(23, i);
        }
        _ => {}
    }
    if let Some(Value::Array(all)) = o.get("allOf") {
        for s in all {
            m.msg(24, schema(s));
        }
    }
    if let Some(Value::Object(props)) = o.get("properties") {
        let mut p = Msg::default();
        for (name, s) in props {
            p.msg(1, named_schema(name, s));
        }
        m.msg(25, p);
    }
    m.string(26, str_of(o, "discriminator"));
    m.bool(27, flag("readOnly"));
    if let Some(Value::Object(docs)) = o.get("externalDocs") {
        let mut d = Msg::default();
        d.string(1, str_of(docs, "description"));
        d.string(2, str_of(docs, "url"));
        m.msg(29, d);
    }
    if let Some(e) = o.get("example") {
        m.msg(30, any(e));
    }
    vendor_extensions(&mut m, 31, o);
    m
}

fn named_schema(name: &str, s: &Value) -> Msg {
    let mut n = Msg::default();
    n.string(1, name);
    n.msg(2, schema(s));
    n
}

/// `ParametersItem` of a query, path or body parameter.
fn parameter(p: &Map<String, Value>) -> Msg {
    let flag = |k: &str| p.get(k).and_then(Value::as_bool).unwrap_or_default();
    let mut param = Msg::default();
    if str_of(p, "in") == "body" {
        let mut body = Msg::default();
        body.string(1, str_of(p, "description"));
        body.string(2, str_of(p, "name"));
        body.string(3, "body");
        body.bool(4, flag("required"));
        if let Some(s) = p.get("schema") {
            body.msg(5, schema(s));
        }
        vendor_extensions(&mut body, 6, p);
        param.msg(1, body);
    } else {
        // Query and path sub-schemas share their first fields; they differ in where `type`
        // and `uniqueItems` sit (the query one has `allow_empty_value` at 5).
        let path = str_of(p, "in") == "path";
        let mut sub = Msg::default();
        sub.bool(1, flag("required"));
        sub.string(2, str_of(p, "in"));
        sub.string(3, str_of(p, "description"));
        sub.string(4, str_of(p, "name"));
        let (ty, unique, ext) = if path { (5, 19, 22) } else { (6, 20, 23) };
        sub.string(ty, str_of(p, "type"));
        sub.bool(unique, flag("uniqueItems"));
        vendor_extensions(&mut sub, ext, p);
        let mut non_body = Msg::default();
        non_body.msg(if path { 4 } else { 3 }, sub);
        param.msg(2, non_body);
    }
    let mut item = Msg::default();
    item.msg(1, param);
    item
}

fn operation(o: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    let strs = |k: &str| -> Vec<&str> {
        o.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    m.strings(1, &strs("tags"));
    m.string(3, str_of(o, "description"));
    m.string(5, str_of(o, "operationId"));
    m.strings(6, &strs("produces"));
    m.strings(7, &strs("consumes"));
    for p in o
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(p) = p.as_object() {
            m.msg(8, parameter(p));
        }
    }
    if let Some(Value::Object(responses)) = o.get("responses") {
        let mut rs = Msg::default();
        for (code, r) in responses {
            let mut response = Msg::default();
            if let Some(r) = r.as_object() {
                response.string(1, str_of(r, "description"));
                if let Some(s) = r.get("schema") {
                    let mut item = Msg::default();
                    item.msg(1, schema(s));
                    response.msg(2, item);
                }
            }
            let mut value = Msg::default();
            value.msg(1, response);
            let mut named = Msg::default();
            named.string(1, code);
            named.msg(2, value);
            rs.msg(1, named);
        }
        m.msg(9, rs);
    }
    m.strings(10, &strs("schemes"));
    vendor_extensions(&mut m, 13, o);
    m
}

fn path_item(o: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    m.string(1, str_of(o, "$ref"));
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (6, "options"),
        (7, "head"),
        (8, "patch"),
    ] {
        if let Some(Value::Object(op)) = o.get(method) {
            m.msg(field, operation(op));
        }
    }
    for p in o
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(p) = p.as_object() {
            m.msg(9, parameter(p));
        }
    }
    vendor_extensions(&mut m, 10, o);
    m
}

/// A Swagger 2.0 document (JSON) as an `openapi.v2.Document` message.
pub fn document(doc: &Value) -> Vec<u8> {
    let mut m = Msg::default();
    let Some(o) = doc.as_object() else {
        return m.0;
    };
    m.string(1, str_of(o, "swagger"));
    if let Some(Value::Object(info)) = o.get("info") {
        let mut i = Msg::default();
        i.string(1, str_of(info, "title"));
        i.string(2, str_of(info, "version"));
        i.string(3, str_of(info, "description"));
        m.msg(2, i);
    }
    if let Some(Value::Object(paths)) = o.get("paths") {
        let mut p = Msg::default();
        for (path, item) in paths {
            if let Some(item) = item.as_object() {
                let mut named = Msg::default();
                named.string(1, path);
                named.msg(2, path_item(item));
                p.msg(2, named);
            }
        }
        m.msg(8, p);
    }
    if let Some(Value::Object(defs)) = o.get("definitions") {
        let mut d = Msg::default();
        for (name, s) in defs {
            d.msg(1, named_schema(name, s));
        }
        m.msg(9, d);
    }
    vendor_extensions(&mut m, 16, o);
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads one field's payloads (length-delimited) from a message.
    fn fields(buf: &[u8], want: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut i = 0;
        let varint = |i: &mut usize| {
            let mut v = 0u64;
            let mut shift = 0;
            loop {
                let b = buf[*i];
                *i += 1;
                v |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    return v;
                }
            }
        };
        while i < buf.len() {
            let key = varint(&mut i);
            match key & 7 {
                0 => {
                    varint(&mut i);
                }
                1 => i += 8,
                2 => {
                    let len = varint(&mut i) as usize;
                    if key >> 3 == want {
                        out.push(buf[i..i + len].to_vec());
                    }
                    i += len;
                }
                w => panic!("wire type {w}"),
            }
        }
        out
    }

    #[test]
    fn definitions_carry_their_kind_as_a_yaml_vendor_extension() {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.37.2"},
            "definitions": {"io.example.v1.Widget": {"type": "object", "required": ["spec"],
                "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}}}},
                "x-kubernetes-group-version-kind": [{"group": "example.io", "kind": "Widget", "version": "v1"}]}}});
        let pb = document(&doc);
        assert_eq!(fields(&pb, 1), vec![b"2.0".to_vec()]);
        let defs = &fields(&pb, 9)[0];
        let named = &fields(defs, 1)[0];
        assert_eq!(fields(named, 1), vec![b"io.example.v1.Widget".to_vec()]);
        let s = &fields(named, 2)[0];
        assert_eq!(fields(&fields(s, 22)[0], 1), vec![b"object".to_vec()]);
        assert_eq!(fields(s, 19), vec![b"spec".to_vec()]);
        let ext = &fields(s, 31)[0];
        assert_eq!(
            fields(ext, 1),
            vec![b"x-kubernetes-group-version-kind".to_vec()]
        );
        let yaml = String::from_utf8(fields(&fields(ext, 2)[0], 2)[0].clone()).unwrap();
        let parsed: Value = serde_json::from_str(&yaml).unwrap();
        assert_eq!(parsed[0]["kind"], "Widget");
    }
}
