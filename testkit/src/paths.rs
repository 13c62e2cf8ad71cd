//! Where things are for a test: the `holdline` binary under test, scratch directories under the
//! target directory, and the repository's own files (SIPp scenarios, media).
//!
//! A test of another package than `holdline` (the load tool's) is not handed the server's path
//! by Cargo (`CARGO_BIN_EXE_<name>` only names the package's own binaries), and may run before
//! that binary was built or after the server's code changed; [`holdline_bin`] covers both.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The `holdline` binary the tests start:
/// 1. `$HOLDLINE_BIN` when set (any build, e.g. a release one);
/// 2. `$CARGO_BIN_EXE_holdline` when set: the `holdline` package's own tests run by Cargo, which
///    built the binary before them;
/// 3. otherwise `holdline` in the running test's profile directory, after
///    `cargo build -p holdline --bin holdline` into that target directory and profile (nothing
///    to do when `cargo test --workspace` has built it already; a stale or missing binary is
///    rebuilt, so `cargo test -p holdline-bench` alone never starts an old server).
///
/// Panics, naming `HOLDLINE_BIN`, when the binary cannot be built.
pub fn holdline_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var_os("HOLDLINE_BIN")
            .or_else(|| std::env::var_os("CARGO_BIN_EXE_holdline"))
            .map(PathBuf::from)
            .unwrap_or_else(build_holdline)
    })
}

/// Builds the server into the running test's profile directory and returns its path there.
fn build_holdline() -> PathBuf {
    let profile_dir = profile_dir();
    let target_dir = profile_dir
        .parent()
        .expect("a profile directory sits in the target directory");
    // `target/debug` is the `dev` (and `test`) profile; every other directory is named after
    // its profile.
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    // Cargo runs tests with `CARGO` naming itself; a test started by hand uses the one on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "-p", "holdline", "--bin", "holdline"])
        .args(["--profile", profile])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(repo_root())
        .status();
    match status {
        Ok(status) if status.success() => {
            profile_dir.join(format!("holdline{}", std::env::consts::EXE_SUFFIX))
        }
        outcome => panic!(
            "cannot build the holdline binary into {} ({outcome:?}); set HOLDLINE_BIN to one",
            profile_dir.display()
        ),
    }
}

/// `target/<profile>`: a test executable runs from `target/<profile>/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .expect("a test executable sits in target/<profile>/deps")
}

/// The repository's top directory (the workspace root), for its fixtures.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit/ sits in the repository")
}

/// A new, empty directory `target/tmp/e2e-TAG-PID-N` for one test's files.
pub fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let tmp = profile_dir()
        .parent()
        .map_or_else(std::env::temp_dir, |target| target.join("tmp"));
    let dir = tmp.join(format!("e2e-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
