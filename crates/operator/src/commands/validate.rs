//! `cache-operator validate PATH…`: the rules of our kinds, offline, for CI pipelines.
//!
//! Exit codes: 0 all valid, 1 an object is invalid, 2 a file could not be read or parsed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cache_operator_api::manifest::{self, Checked};
use serde_json::Value;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// One line per problem: `file: Kind/name: field: rule`.
    pub problems: Vec<String>,
    /// Files that could not be read or parsed, with the reason.
    pub unreadable: Vec<String>,
    pub checked: usize,
    pub invalid: usize,
    pub skipped: usize,
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        if !self.unreadable.is_empty() {
            2
        } else if self.invalid > 0 {
            1
        } else {
            0
        }
    }

    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} object(s) of cache-operator kinds checked, {} invalid; {} object(s) of other kinds skipped",
            self.checked, self.invalid, self.skipped
        );
        if !self.unreadable.is_empty() {
            let _ = write!(
                s,
                "; {} file(s) could not be read or parsed",
                self.unreadable.len()
            );
        }
        s
    }
}

/// Check every manifest file under `paths` (files, or folders searched recursively for
/// `.yaml`, `.yml` and `.json`).
pub fn run(paths: &[PathBuf]) -> Report {
    let mut report = Report::default();
    for path in paths {
        let mut files = Vec::new();
        if let Err(e) = collect_files(path, &mut files) {
            report
                .unreadable
                .push(format!("{}: cannot read: {e}", path.display()));
            continue;
        }
        for file in files {
            check_file(&file, &mut report);
        }
    }
    report
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            let manifest = entry
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            if entry.is_dir() || manifest {
                collect_files(&entry, out)?;
            }
        }
        Ok(())
    } else {
        // Surface a missing or unreadable file here rather than as an empty result.
        std::fs::metadata(path)?;
        out.push(path.to_path_buf());
        Ok(())
    }
}

fn check_file(file: &Path, report: &mut Report) {
    let shown = file.display();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return report.unreadable.push(format!("{shown}: cannot read: {e}")),
    };
    let docs: Vec<Value> = match serde_saphyr::from_multiple(&text) {
        Ok(d) => d,
        Err(e) => {
            return report
                .unreadable
                .push(format!("{shown}: cannot parse YAML: {e}"));
        }
    };
    for doc in docs.iter().flat_map(expand_lists) {
        match manifest::check(doc) {
            Checked::Other => report.skipped += 1,
            Checked::Ours { kind, name, errors } => {
                report.checked += 1;
                if !errors.is_empty() {
                    report.invalid += 1;
                    let name = if name.is_empty() { "(unnamed)" } else { &name };
                    for e in errors {
                        report.problems.push(format!("{shown}: {kind}/{name}: {e}"));
                    }
                }
            }
        }
    }
}

/// `kind: List` (what `kubectl get -o yaml` prints) holds its objects in `items`.
fn expand_lists(doc: &Value) -> Vec<&Value> {
    match (doc.get("kind").and_then(Value::as_str), doc.get("items")) {
        (Some(k), Some(Value::Array(items))) if k.ends_with("List") => items.iter().collect(),
        _ if doc.is_object() => vec![doc],
        _ => vec![],
    }
}
