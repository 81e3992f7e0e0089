//! The `kubesim` binary's contract: it writes the kubeconfig before printing the base URL as
//! its first stdout line, serves, and exits on SIGTERM even with watches open.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn prints_the_url_after_writing_the_kubeconfig_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("nested/kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args(["--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    let written = std::fs::read_to_string(&kubeconfig)
        .expect("the kubeconfig exists once the URL is printed");
    assert!(written.contains(&format!("server: {url}")));
    assert!(written.contains("current-context: kubesim"));
    assert!(written.contains("namespace: default"));

    let ns: serde_json::Value = reqwest::get(format!("{url}/api/v1/namespaces/kube-system"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ns["metadata"]["name"], "kube-system");
    // An open watch must not keep the server from stopping.
    let watch = reqwest::get(format!("{url}/api/v1/configmaps?watch=true"))
        .await
        .unwrap();
    assert_eq!(watch.status(), 200);

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "kubesim did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(watch);
}
