//! `cache-operator validate` as a CI pipeline runs it: the binary, real files, exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn validate(args: &[&Path]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cache-operator"))
        .arg("validate")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_samples_are_valid() {
    let (code, stdout, stderr) = validate(&[&repo().join("config/samples")]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("17 object(s) of cache-operator kinds checked, 0 invalid"),
        "{stderr}"
    );
}

#[test]
fn invalid_objects_exit_1_with_one_line_per_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
---
apiVersion: cache-operator.io/v1alpha1
kind: RedisCluster
metadata: {name: orders}
spec:
  provider: aws
  instanceId: 1orders
  region: us-east-1
  nodeType: redis-standard-small
  shardCount: 0
  authMode: disabled
  aws: {}
---
apiVersion: cache-operator.io/v1alpha1
kind: UserGroup
metadata: {name: fine}
spec:
  provider: gcp
  gcp:
    members: ["user:alice@example.com"]
"#,
    )
    .unwrap();
    let (code, stdout, stderr) = validate(&[&bad]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let shown = bad.display().to_string();
    let expect = [
        format!(
            "{shown}: RedisCluster/orders: spec.instanceId: must start with a lowercase letter"
        ),
        format!(
            "{shown}: RedisCluster/orders: spec.shardCount: must be between 1 and 90 for provider aws (got 0)"
        ),
    ];
    for line in &expect {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{stdout}"
        );
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("{shown}: RedisCluster/orders: spec.nodeType: ")))
    );
    assert!(!stdout.contains("UserGroup/fine"), "{stdout}");
    assert!(stderr.contains("2 object(s) of cache-operator kinds checked, 1 invalid; 1 object(s) of other kinds skipped"), "{stderr}");
}

#[test]
fn unparsable_or_missing_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "apiVersion: [unclosed\n").unwrap();
    let (code, stdout, _) = validate(&[&broken]);
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stdout.contains("broken.yaml: cannot parse YAML"),
        "{stdout}"
    );

    let (code, stdout, _) = validate(&[&dir.path().join("nope.yaml")]);
    assert_eq!(code, 2);
    assert!(stdout.contains("nope.yaml: cannot read"), "{stdout}");

    // Parse failures outrank invalid objects.
    let (code, _, _) = validate(&[&broken, &repo().join("config/samples")]);
    assert_eq!(code, 2);
}

#[test]
fn lists_and_folders_are_walked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a manifest").unwrap();
    std::fs::write(
        dir.path().join("nested/list.yaml"),
        r#"
apiVersion: v1
kind: List
items:
  - apiVersion: cache-operator.io/v1alpha1
    kind: AccessBinding
    metadata: {name: app}
    spec:
      clusterRef: {name: orders}
      userGroupRef: {name: readers}
      rotation: {refreshBefore: soon}
"#,
    )
    .unwrap();
    let (code, stdout, stderr) = validate(&[dir.path()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("AccessBinding/app: spec.rotation.refreshBefore: must be a duration"),
        "{stdout}"
    );
    assert!(
        stderr.contains("1 object(s) of cache-operator kinds checked"),
        "{stderr}"
    );
}
