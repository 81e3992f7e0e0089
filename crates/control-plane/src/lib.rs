//! The real Kubernetes control plane under the tests and the sandbox: etcd, kube-apiserver and
//! kube-controller-manager built from their upstream Go modules by `tests/control-plane/build.sh`
//! (cached outside the clone), started envtest-style on loopback with RBAC on.
//!
//! ```no_run
//! let bin = control_plane::Binaries::ensure()?;            // builds once, then seconds
//! let cp = control_plane::ControlPlane::start(&bin, std::path::Path::new("/tmp/cp"))?;
//! let admin = cp.admin_kubeconfig();                         // a system:masters user
//! let op = cp.user("cache-operator", &[])?;                  // a user with no rights at all
//! # anyhow::Ok(())
//! ```

pub mod operator;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Where `build.sh` is: the Go module lives next to the Rust workspace.
const BUILD_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/control-plane/build.sh"
);

/// The built binaries: `control-plane` (every component and check as a subcommand) and `helm`.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub dir: PathBuf,
}

impl Binaries {
    /// The binaries, built first if they are missing or stale. `CACHE_OPERATOR_CONTROL_PLANE`
    /// names a folder of prebuilt ones instead. The build's progress goes to this process's
    /// stderr; concurrent callers wait for one build.
    pub fn ensure() -> anyhow::Result<Binaries> {
        if let Some(dir) = std::env::var_os("CACHE_OPERATOR_CONTROL_PLANE") {
            let bin = Binaries { dir: dir.into() };
            if !bin.control_plane().exists() {
                bail!(
                    "CACHE_OPERATOR_CONTROL_PLANE={} holds no control-plane binary",
                    bin.dir.display()
                );
            }
            return Ok(bin);
        }
        let out = Command::new("bash")
            .arg(BUILD_SCRIPT)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("running {BUILD_SCRIPT} (needs Go on PATH)"))?;
        if !out.status.success() {
            bail!(
                "building the control plane failed ({}); run {BUILD_SCRIPT} to see why",
                out.status
            );
        }
        let dir = String::from_utf8(out.stdout)?.trim().to_owned();
        Ok(Binaries { dir: dir.into() })
    }

    pub fn control_plane(&self) -> PathBuf {
        self.dir.join("control-plane")
    }

    pub fn helm(&self) -> PathBuf {
        self.dir.join("helm")
    }

    /// The Kubernetes version the binaries were built from, e.g. `v1.37.2`.
    pub fn version(&self) -> anyhow::Result<String> {
        let out = self.run(&["version"])?;
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// `control-plane ARGS…` (for example `kubectl …`, `crd-lint …`), its output collected.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new(self.control_plane())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running control-plane {}", args.join(" ")))
    }

    /// `kubectl ARGS…` of the same Kubernetes version, against `kubeconfig`.
    pub fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> anyhow::Result<Output> {
        let mut all = vec!["kubectl", "--kubeconfig"];
        all.push(
            kubeconfig
                .to_str()
                .context("kubeconfig path is not UTF-8")?,
        );
        all.extend_from_slice(args);
        self.run(&all)
    }
}

/// A running control plane; stopped (SIGTERM to the launcher, which stops its components) on drop.
pub struct ControlPlane {
    pub dir: PathBuf,
    pub url: String,
    bin: Binaries,
    launcher: Option<Child>,
}

impl ControlPlane {
    /// Start one in `dir` (created; it receives certificates, etcd's data, the components' logs
    /// and kubeconfigs). Returns once the apiserver answers `/readyz`.
    ///
    /// The components' ports are picked free and bound a moment later, so a test starting beside
    /// it can take one first; that start is tried again, in an emptied `dir`.
    pub fn start(bin: &Binaries, dir: &Path) -> anyhow::Result<ControlPlane> {
        let mut tries = 0;
        loop {
            match Self::start_once(bin, dir) {
                Err(e) if tries < 2 && e.to_string().contains("address already in use") => {
                    tries += 1;
                    std::fs::remove_dir_all(dir)?;
                }
                other => return other,
            }
        }
    }

    fn start_once(bin: &Binaries, dir: &Path) -> anyhow::Result<ControlPlane> {
        std::fs::create_dir_all(dir)?;
        let log = std::fs::File::create(dir.join("control-plane.log"))?;
        let mut child = Command::new(bin.control_plane())
            .args(["up", "--dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.control_plane().display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        let mut cp = ControlPlane {
            dir: dir.to_owned(),
            url: String::new(),
            bin: bin.clone(),
            launcher: Some(child),
        };
        match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(Some(line)) if line.starts_with("https://") => {
                cp.url = line.trim().to_owned();
                Ok(cp)
            }
            other => bail!(
                "the control plane did not start ({other:?}); logs in {}:\n{}",
                dir.display(),
                cp.log_tail(30)
            ),
        }
    }

    /// A kubeconfig for the built-in admin (group `system:masters`).
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.dir.join("admin.kubeconfig")
    }

    /// A kubeconfig for a client-certificate user with these groups and, unless RBAC grants it
    /// some, no rights.
    pub fn user(&self, name: &str, groups: &[&str]) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(format!("{name}.kubeconfig"));
        let mut args = vec![
            "user",
            "--dir",
            self.dir.to_str().context("dir")?,
            "--name",
            name,
        ];
        for g in groups {
            args.extend(["--group", g]);
        }
        args.extend(["--out", path.to_str().context("path")?]);
        let out = self.bin.run(&args)?;
        if !out.status.success() {
            bail!(
                "control-plane user: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(path)
    }

    pub fn binaries(&self) -> &Binaries {
        &self.bin
    }

    /// The last lines of the launcher's and the apiserver's logs, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for name in [
            "control-plane",
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
        ] {
            let text =
                std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            if all.is_empty() {
                continue;
            }
            out.push_str(&format!("---- {name}.log\n"));
            for l in &all[all.len().saturating_sub(lines)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// The PIDs of etcd and kube-apiserver (children of the launcher), for measurements.
    pub fn component_pids(&self) -> Vec<(String, u32)> {
        let Some(launcher) = &self.launcher else {
            return Vec::new();
        };
        // A Go launcher starts children from any of its threads, and each thread's `children`
        // lists only its own.
        let children: String = std::fs::read_dir(format!("/proc/{}/task", launcher.id()))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
            .collect::<Vec<_>>()
            .join(" ");
        children
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter_map(|pid| {
                let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
                let sub = cmdline.split('\0').nth(1)?.to_owned();
                Some((sub, pid))
            })
            .collect()
    }

    /// Stop every component and wait for them.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.launcher.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}
