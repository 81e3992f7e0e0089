//! The subset of Kubernetes JSONPath that printer columns use:
//! `.a.b`, `.a[0]`, `.a[*]`, `.a[?(@.type=="Ready")].status`, escaped dots (`\.`), and `{...}`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter {
        path: Vec<String>,
        op: String,
        literal: Option<Value>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    pub fn parse(src: &str) -> Result<JsonPath, String> {
        let s = src.trim();
        let s = s
            .strip_prefix('{')
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or(s);
        let s = s.strip_prefix('$').unwrap_or(s);
        let chars: Vec<char> = s.chars().collect();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    let mut name = String::new();
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        if chars[i] == '\\' && i + 1 < chars.len() {
                            name.push(chars[i + 1]);
                            i += 2;
                        } else {
                            name.push(chars[i]);
                            i += 1;
                        }
                    }
                    if !name.is_empty() {
                        steps.push(if name == "*" {
                            Step::Wildcard
                        } else {
                            Step::Field(name)
                        });
                    }
                }
                '[' => {
                    let end =
                        find_close(&chars, i).ok_or_else(|| format!("unclosed [ in {src}"))?;
                    let inner: String = chars[i + 1..end].iter().collect();
                    i = end + 1;
                    let inner = inner.trim();
                    if inner == "*" {
                        steps.push(Step::Wildcard);
                    } else if let Some(f) =
                        inner.strip_prefix("?(").and_then(|x| x.strip_suffix(')'))
                    {
                        steps.push(parse_filter(f)?);
                    } else if let Ok(n) = inner.parse::<i64>() {
                        steps.push(Step::Index(n));
                    } else {
                        let name = inner.trim_matches(|c| c == '\'' || c == '"');
                        steps.push(Step::Field(name.to_string()));
                    }
                }
                c if c.is_whitespace() => i += 1,
                _ => {
                    // A leading field without a dot.
                    let mut name = String::new();
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        name.push(chars[i]);
                        i += 1;
                    }
                    steps.push(Step::Field(name));
                }
            }
        }
        Ok(JsonPath { steps })
    }

    pub fn find<'a>(&self, v: &'a Value) -> Vec<&'a Value> {
        let mut cur = vec![v];
        for step in &self.steps {
            let mut next = Vec::new();
            for c in cur {
                match step {
                    Step::Field(f) => {
                        if let Some(x) = c.get(f) {
                            next.push(x);
                        }
                    }
                    Step::Index(n) => {
                        if let Some(a) = c.as_array() {
                            let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                            if idx >= 0
                                && let Some(x) = a.get(idx as usize)
                            {
                                next.push(x);
                            }
                        }
                    }
                    Step::Wildcard => match c {
                        Value::Array(a) => next.extend(a.iter()),
                        Value::Object(o) => next.extend(o.values()),
                        _ => {}
                    },
                    Step::Filter { path, op, literal } => {
                        if let Some(a) = c.as_array() {
                            for item in a {
                                let mut t = Some(item);
                                for p in path {
                                    t = t.and_then(|x| x.get(p));
                                }
                                let keep = match (t, literal) {
                                    (Some(_), None) => true,
                                    (Some(x), Some(lit)) => compare(x, op, lit),
                                    (None, _) => false,
                                };
                                if keep {
                                    next.push(item);
                                }
                            }
                        }
                    }
                }
            }
            cur = next;
        }
        cur
    }
}

fn find_close(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for (j, c) in chars.iter().enumerate().skip(open) {
        match (quote, *c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(*c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_filter(f: &str) -> Result<Step, String> {
    let f = f.trim();
    for op in ["==", "!=", "<=", ">=", "<", ">"] {
        if let Some((lhs, rhs)) = f.split_once(op) {
            return Ok(Step::Filter {
                path: filter_path(lhs)?,
                op: op.to_string(),
                literal: Some(literal(rhs.trim())),
            });
        }
    }
    Ok(Step::Filter {
        path: filter_path(f)?,
        op: String::new(),
        literal: None,
    })
}

fn filter_path(lhs: &str) -> Result<Vec<String>, String> {
    let lhs = lhs.trim();
    let rest = lhs
        .strip_prefix('@')
        .ok_or_else(|| format!("unsupported filter {lhs}"))?;
    Ok(rest
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

fn literal(s: &str) -> Value {
    if let Some(x) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        return Value::String(x.to_string());
    }
    if let Some(x) = s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
        return Value::String(x.to_string());
    }
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
}

fn compare(x: &Value, op: &str, lit: &Value) -> bool {
    match op {
        "==" => x == lit || (x.as_f64().is_some() && x.as_f64() == lit.as_f64()),
        "!=" => !(x == lit || (x.as_f64().is_some() && x.as_f64() == lit.as_f64())),
        _ => match (x.as_f64(), lit.as_f64()) {
            (Some(a), Some(b)) => match op {
                "<" => a < b,
                ">" => a > b,
                "<=" => a <= b,
                ">=" => a >= b,
                _ => false,
            },
            _ => false,
        },
    }
}

/// Renders a value as kubectl's JSONPath printer does for string columns.
pub fn print(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn printer_column_paths() {
        let o = json!({"status": {"conditions": [{"type": "Other", "status": "False"}, {"type": "Ready", "status": "True", "reason": "Up"}],
                       "endpoints": [{"host": "h", "port": 6379}]},
                       "metadata": {"labels": {"app.kubernetes.io/name": "x"}}});
        let get = |p: &str| {
            JsonPath::parse(p)
                .unwrap()
                .find(&o)
                .first()
                .map(|v| print(v))
        };
        assert_eq!(
            get(".status.conditions[?(@.type==\"Ready\")].status").as_deref(),
            Some("True")
        );
        assert_eq!(
            get(".status.conditions[?(@.type=='Ready')].reason").as_deref(),
            Some("Up")
        );
        assert_eq!(get(".status.endpoints[0].port").as_deref(), Some("6379"));
        assert_eq!(get(".status.endpoints[-1].host").as_deref(), Some("h"));
        assert_eq!(
            get(".metadata.labels.app\\.kubernetes\\.io/name").as_deref(),
            Some("x")
        );
        assert_eq!(
            get("{.status.conditions[*].type}").as_deref(),
            Some("Other")
        );
        assert_eq!(get(".spec.missing"), None);
    }
}
