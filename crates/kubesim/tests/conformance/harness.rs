//! Both servers side by side: one real control plane per test binary (etcd, kube-apiserver and
//! kube-controller-manager built from their Go modules, see crates/control-plane), one kubesim
//! per test, the same namespace on both, and the same request sent to each — raw through
//! kube-rs' client, or as a `kubectl` (the same v1.37 build) command line.
//!
//! Replies are compared after normalising what legitimately differs between two servers: uids
//! (mapped to `uid-1`, `uid-2`, … in order of appearance, so that references stay comparable),
//! resourceVersions, server timestamps, generated name suffixes, ages and column widths in
//! kubectl tables, and the order of a Status' causes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use http::{Method, Request};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use regex::Regex;
use serde_json::{Value, json};

/// The real control plane of this test binary, started on first use.
pub struct Real {
    pub cp: control_plane::ControlPlane,
    pub bin: control_plane::Binaries,
}

pub fn real() -> &'static Real {
    static REAL: OnceLock<Real> = OnceLock::new();
    REAL.get_or_init(|| {
        let bin = control_plane::Binaries::ensure().expect("the control plane's binaries");
        // Under the target dir, so that its logs outlive a failed run; the previous run's is
        // removed. The launcher stops the components when this process exits.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubesim-conformance");
        let _ = std::fs::remove_dir_all(&dir);
        let cp = control_plane::ControlPlane::start(&bin, &dir).expect("the control plane starts");
        Real { cp, bin }
    })
}

/// One server under test.
pub struct Side {
    pub name: &'static str,
    pub client: Client,
    pub kubeconfig: PathBuf,
}

impl Side {
    /// A raw request; the reply's status and body (JSON when it parses, else a string).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Reply {
        let body = match body {
            Value::Null => Vec::new(),
            Value::String(s) => s.clone().into_bytes(),
            other => serde_json::to_vec(other).unwrap(),
        };
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(kube::client::Body::from(body))
            .unwrap();
        let resp = self
            .client
            .send(req)
            .await
            .unwrap_or_else(|e| panic!("{}: {path}: {e}", self.name));
        let status = resp.status().as_u16();
        let warnings = resp
            .headers()
            .get_all("warning")
            .iter()
            .map(|w| String::from_utf8_lossy(w.as_bytes()).into_owned())
            .collect();
        let bytes = resp.into_body().collect_bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            body,
            warnings,
        }
    }

    /// Opens a watch at `path` and collects its events until `count` arrived, the server ended
    /// the stream, or `wait` passed.
    pub async fn watch(&self, path: &str, count: usize, wait: Duration) -> Vec<Value> {
        use futures::AsyncBufReadExt as _;
        let req = Request::builder()
            .uri(path)
            .header("accept", "application/json")
            .body(Vec::new())
            .unwrap();
        let stream = self
            .client
            .request_stream(req)
            .await
            .unwrap_or_else(|e| panic!("{}: watch {path}: {e}", self.name));
        let mut lines = Box::pin(stream).lines();
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while events.len() < count {
            use futures::StreamExt as _;
            match tokio::time::timeout_at(deadline, lines.next()).await {
                Ok(Some(Ok(line))) if !line.trim().is_empty() => {
                    events.push(serde_json::from_str(&line).unwrap())
                }
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => panic!("{}: watch {path}: {e}", self.name),
                Ok(None) | Err(_) => break,
            }
        }
        events
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// `Warning` headers.
    pub warnings: Vec<String>,
}

/// The real server and a fresh kubesim, each with the namespace `ns`.
pub struct Both {
    pub real: Side,
    pub sim: Side,
    pub ns: String,
    pub dir: tempfile::TempDir,
    /// Differences found so far: a test reports all of them at its end ([`Both::done`]).
    pub diffs: std::sync::Mutex<Vec<String>>,
    _kubesim: kubesim::Running,
}

async fn client(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

impl Both {
    /// Both servers with a namespace named after the test (unique in this binary).
    pub async fn new(ns: &str) -> Both {
        let real_cp = tokio::task::spawn_blocking(real).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubesim = kubesim::Server::start(kubesim::Config::default())
            .await
            .unwrap();
        let sim_kubeconfig = dir.path().join("kubesim.kubeconfig");
        kubesim.write_kubeconfig(&sim_kubeconfig).unwrap();
        let real_kubeconfig = real_cp.cp.admin_kubeconfig();
        let both = Both {
            real: Side {
                name: "real",
                client: client(&real_kubeconfig).await,
                kubeconfig: real_kubeconfig,
            },
            sim: Side {
                name: "kubesim",
                client: client(&sim_kubeconfig).await,
                kubeconfig: sim_kubeconfig,
            },
            ns: ns.to_owned(),
            dir,
            diffs: Default::default(),
            _kubesim: kubesim,
        };
        let [r, s] = both
            .call(
                Method::POST,
                "/api/v1/namespaces",
                JSON,
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .await;
        assert_eq!(
            (r.status, s.status),
            (201, 201),
            "namespace {ns}: {r:?} {s:?}"
        );
        both
    }

    pub fn sides(&self) -> [&Side; 2] {
        [&self.real, &self.sim]
    }

    /// The same request to both servers, at once.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> [Reply; 2] {
        let (r, s) = tokio::join!(
            self.real.call(method.clone(), path, content_type, body),
            self.sim.call(method, path, content_type, body)
        );
        [r, s]
    }

    /// The same request to both; asserts equal status codes and normalised bodies and returns
    /// the real reply (normalised).
    pub async fn same(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Reply {
        let what = format!("{method} {path}");
        let [r, s] = self.call(method, path, content_type, body).await;
        self.compare(&what, &r, &s)
    }

    /// Compares two replies; a difference is recorded (and printed) and the test goes on, so
    /// that one run shows every difference. Returns the real reply, normalised.
    pub fn compare(&self, what: &str, real: &Reply, sim: &Reply) -> Reply {
        match same_replies(what, real, sim) {
            Ok(r) => r,
            Err(diff) => {
                eprintln!("{diff}");
                self.diffs.lock().unwrap().push(diff);
                Reply {
                    status: real.status,
                    body: normalize(&real.body),
                    warnings: real.warnings.clone(),
                }
            }
        }
    }

    /// Records a difference unless `real == sim`.
    pub fn expect_eq<T: PartialEq + std::fmt::Debug>(&self, what: &str, real: T, sim: T) {
        if real != sim {
            let diff = format!("{what} differs\n--- real\n{real:#?}\n--- kubesim\n{sim:#?}");
            eprintln!("{diff}");
            self.diffs.lock().unwrap().push(diff);
        }
    }

    /// Fails the test if any difference was recorded.
    pub fn done(self) {
        let diffs = self.diffs.lock().unwrap();
        assert!(
            diffs.is_empty(),
            "{} difference(s):\n{}",
            diffs.len(),
            diffs.join("\n\n")
        );
    }

    /// A request that differs per server (each its own resourceVersion, uid…): real first.
    pub async fn call_each(
        &self,
        method: Method,
        paths: [&str; 2],
        content_type: &str,
        bodies: [&Value; 2],
    ) -> [Reply; 2] {
        let (r, s) = tokio::join!(
            self.real
                .call(method.clone(), paths[0], content_type, bodies[0]),
            self.sim.call(method, paths[1], content_type, bodies[1])
        );
        [r, s]
    }

    /// Watches on both servers at once (paths may differ: each its own resourceVersion).
    pub async fn watch_each(
        &self,
        paths: [&str; 2],
        count: usize,
        wait: Duration,
    ) -> [Vec<Value>; 2] {
        let (r, s) = tokio::join!(
            self.real.watch(paths[0], count, wait),
            self.sim.watch(paths[1], count, wait)
        );
        [r, s]
    }

    /// `kubectl ARGS…` against both, at once (on blocking threads: kubesim serves from this
    /// test's runtime meanwhile).
    pub async fn kubectl(&self, args: &[&str]) -> [Output; 2] {
        let run = |kubeconfig: PathBuf| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                real()
                    .bin
                    .kubectl(&kubeconfig, &args)
                    .expect("kubectl runs")
            })
        };
        let (r, s) = tokio::join!(
            run(self.real.kubeconfig.clone()),
            run(self.sim.kubeconfig.clone())
        );
        [r.unwrap(), s.unwrap()]
    }

    /// `kubectl ARGS…` against both; records a difference in exit code, stdout or stderr
    /// (after normalisation) and returns the real stdout, normalised.
    pub async fn same_kubectl(&self, args: &[&str]) -> String {
        let [r, s] = self.kubectl(args).await;
        let (rs, ss) = (text(&r), text(&s));
        if (r.status.code(), &rs) != (s.status.code(), &ss) {
            let diff = format!(
                "kubectl {} differs\n--- real ({:?})\n{rs}\n--- kubesim ({:?})\n{ss}",
                args.join(" "),
                r.status.code(),
                s.status.code()
            );
            eprintln!("{diff}");
            self.diffs.lock().unwrap().push(diff);
        }
        normalize_text(&String::from_utf8_lossy(&r.stdout))
    }

    /// A file in this test's temporary folder, for `kubectl -f`.
    pub fn file(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// Polls both servers until `ok` holds for each side's reply to GET `path`.
    pub async fn eventually(
        &self,
        what: &str,
        path: &str,
        ok: impl Fn(&Reply) -> bool,
    ) -> [Reply; 2] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut last: Vec<Option<Reply>> = vec![None, None];
        loop {
            for (i, side) in self.sides().into_iter().enumerate() {
                if last[i].as_ref().is_some_and(&ok) {
                    continue;
                }
                last[i] = Some(side.call(Method::GET, path, JSON, &Value::Null).await);
            }
            if last.iter().all(|r| r.as_ref().is_some_and(&ok)) {
                return [last[0].take().unwrap(), last[1].take().unwrap()];
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: real {:?}, kubesim {:?}",
                    last[0], last[1]
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

pub const JSON: &str = "application/json";
pub const MERGE: &str = "application/merge-patch+json";
pub const JSON_PATCH: &str = "application/json-patch+json";
pub const STRATEGIC: &str = "application/strategic-merge-patch+json";
pub const APPLY: &str = "application/apply-patch+yaml";

/// Two replies compared after normalisation: the (normalised) first, or the difference.
pub fn same_replies(what: &str, real: &Reply, sim: &Reply) -> Result<Reply, String> {
    let r = Reply {
        status: real.status,
        body: normalize(&real.body),
        warnings: real.warnings.clone(),
    };
    let s = Reply {
        status: sim.status,
        body: normalize(&sim.body),
        warnings: sim.warnings.clone(),
    };
    if r != s {
        return Err(format!(
            "{what} differs\n--- real ({}) {:?}\n{}\n--- kubesim ({}) {:?}\n{}",
            r.status,
            r.warnings,
            serde_json::to_string_pretty(&r.body).unwrap(),
            s.status,
            s.warnings,
            serde_json::to_string_pretty(&s.body).unwrap()
        ));
    }
    Ok(r)
}

static UID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap()
});
static RECORD_RV: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"in record \(\d+\)").unwrap());
static TIME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z").unwrap());

/// Server-assigned values replaced by placeholders: uids numbered by first appearance (within
/// one value), resourceVersions, the server's timestamps, generated name suffixes.
pub fn normalize(v: &Value) -> Value {
    let mut uids = HashMap::new();
    let mut out = v.clone();
    walk(&mut out, None, &mut uids);
    sort_causes(&mut out);
    sort_managed_fields(&mut out);
    // A custom resource list read from etcd rather than the watch cache carries an empty
    // `continue`, which clients read as none.
    if let Some(m) = out.get_mut("metadata").and_then(Value::as_object_mut)
        && m.get("continue") == Some(&json!(""))
    {
        m.remove("continue");
    }
    out
}

/// The API server orders `managedFields` by operation, then by the second of each entry's time,
/// then by manager: whether two writes fell in the same second decides their order, which two
/// runs (one per server) need not share. With times normalized away, entries are sorted by the
/// rest of that key.
fn sort_managed_fields(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(entries)) = o.get_mut("managedFields") {
                let key = |e: &Value| {
                    ["operation", "manager", "apiVersion", "subresource"]
                        .map(|k| e[k].as_str().unwrap_or_default().to_owned())
                };
                entries.sort_by_key(key);
            }
            o.values_mut().for_each(sort_managed_fields);
        }
        Value::Array(a) => a.iter_mut().for_each(sort_managed_fields),
        _ => {}
    }
}

/// The API server validates an object's properties in Go map order, so the order of a Status'
/// causes (and of the list in its message) varies from one request to the next: both are sorted.
fn sort_causes(v: &mut Value) {
    let Some(causes) = v
        .pointer("/details/causes")
        .and_then(Value::as_array)
        .cloned()
    else {
        return;
    };
    let item = |c: &Value| {
        let field = c["field"].as_str().unwrap_or_default();
        let message = c["message"].as_str().unwrap_or_default();
        if field.is_empty() {
            message.to_owned()
        } else {
            format!("{field}: {message}")
        }
    };
    let listed: Vec<String> = causes.iter().map(item).collect();
    let mut sorted = causes.clone();
    sorted.sort_by_key(|c| (item(c), c["reason"].as_str().unwrap_or_default().to_owned()));
    if let Some(Value::String(message)) = v.get_mut("message")
        && listed.len() > 1
    {
        let list = format!("[{}]", listed.join(", "));
        if let Some(prefix) = message.strip_suffix(&list) {
            let mut items = listed.clone();
            items.sort();
            *message = format!("{prefix}[{}]", items.join(", "));
        }
    }
    v["details"]["causes"] = Value::Array(sorted);
}

fn uid_alias(uids: &mut HashMap<String, String>, uid: &str) -> String {
    let n = uids.len() + 1;
    uids.entry(uid.to_owned())
        .or_insert_with(|| format!("uid-{n}"))
        .clone()
}

fn walk(v: &mut Value, key: Option<&str>, uids: &mut HashMap<String, String>) {
    match v {
        Value::Object(o) => {
            if let (Some(Value::String(generate)), Some(Value::String(name))) =
                (o.get("generateName").cloned(), o.get_mut("name"))
                && name.starts_with(&generate)
            {
                *name = format!("{generate}<generated>");
            }
            if o.keys().any(|k| UID.is_match(k)) {
                let entries: Vec<(String, Value)> = std::mem::take(o).into_iter().collect();
                for (k, v) in entries {
                    let k = UID
                        .replace_all(&k, |c: &regex::Captures| uid_alias(uids, &c[0]))
                        .into_owned();
                    o.insert(k, v);
                }
            }
            for (k, x) in o.iter_mut() {
                walk(x, Some(k), uids);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| walk(x, key, uids)),
        Value::String(s) => match key {
            Some("resourceVersion") if !s.is_empty() => *s = "<rv>".into(),
            Some(
                "creationTimestamp" | "deletionTimestamp" | "time" | "eventTime" | "firstTimestamp"
                | "lastTimestamp" | "lastObservedTime",
            ) => *s = "<time>".into(),
            _ => {
                if RECORD_RV.is_match(s) {
                    *s = RECORD_RV.replace_all(s, "in record (<rv>)").into_owned();
                }
                if UID.is_match(s) {
                    *s = UID
                        .replace_all(s, |c: &regex::Captures| uid_alias(uids, &c[0]))
                        .into_owned();
                }
            }
        },
        _ => {}
    }
}

/// kubectl's output with what differs between servers replaced: uids, times, resourceVersions,
/// ages, and runs of spaces (table columns align to their widest cell).
pub fn normalize_text(s: &str) -> String {
    static RV: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"resourceVersion: "\d+"|Resource Version: +\d+"#).unwrap());
    static AGE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b(\d+d)?(\d+h)?(\d+m)?(\d+s)?\b").unwrap());
    static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r" {2,}").unwrap());
    static TMP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"/tmp/\.tmp\w+/").unwrap());
    let mut uids = HashMap::new();
    let s = UID.replace_all(s, |c: &regex::Captures| uid_alias(&mut uids, &c[0]));
    let s = TIME.replace_all(&s, "<time>");
    let s = RV.replace_all(&s, "resourceVersion: <rv>");
    let s = AGE.replace_all(&s, |c: &regex::Captures| {
        if c[0].is_empty() {
            String::new()
        } else {
            "<age>".to_owned()
        }
    });
    let s = TMP.replace_all(&s, "<tmp>/");
    SPACES.replace_all(&s, "  ").into_owned()
}

fn text(o: &Output) -> String {
    normalize_text(&format!(
        "{}\n--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    ))
}

/// Parses YAML or JSON into a JSON value.
pub fn yaml(s: &str) -> Value {
    serde_saphyr::from_str(s).unwrap()
}

/// Every document of a multi-document YAML file.
pub fn yaml_docs(s: &str) -> Vec<Value> {
    serde_saphyr::from_multiple(s).unwrap()
}
