#!/usr/bin/env bash
# holdline's test command (the README's second command). On a fresh Debian machine it installs
# what the tests need (SIPp, sox, ffmpeg, baresip, chromium) and fails loudly when it cannot, then runs every test:
# unit, golden (RFC 4475), property, scenario and SIPp end-to-end tests against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "tests/run.sh: $*" >&2; exit 1; }

# Debian package → a command it provides. baresip-core is the real SIP phone of
# tests/e2e_baresip.rs (the `baresip` package only adds GUI and video front ends to it).
# chromium and chromium-driver are the headless browser of tests/e2e_console.rs (WebDriver).
declare -A need=([sip-tester]=sipp [sox]=sox [ffmpeg]=ffmpeg [baresip-core]=baresip
                 [chromium]=chromium [chromium-driver]=chromedriver)
missing=()
for pkg in "${!need[@]}"; do
  command -v "${need[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "tests/run.sh: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  command -v apt-get >/dev/null 2>&1 || fail "apt-get not found; install ${missing[*]} by hand"
  $sudo apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
    || fail "could not install ${missing[*]}"
  for pkg in "${missing[@]}"; do
    command -v "${need[$pkg]}" >/dev/null 2>&1 || fail "$pkg installed but ${need[$pkg]} is not on PATH"
  done
fi
command -v cargo >/dev/null 2>&1 || fail "cargo not found: install Rust (https://rustup.rs)"

[ -d ../shared/sip-torture ] || echo "tests/run.sh: ../shared/sip-torture not found; the RFC 4475 golden tests will say they skipped the corpus"

# The bench's smoke tests start the server binary. `cargo test --workspace` builds it with the
# workspace's unified features before any test runs; point the tests at that build, or each
# would build the server again for the holdline package alone (other features: a full rebuild).
if [ -z "${HOLDLINE_BIN:-}" ] && [ "$#" -eq 0 ]; then
  export HOLDLINE_BIN="$(pwd)/${CARGO_TARGET_DIR:-target}/debug/holdline"
  case "${CARGO_TARGET_DIR:-}" in /*) HOLDLINE_BIN="$CARGO_TARGET_DIR/debug/holdline" ;; esac
fi
cargo test --workspace --all-targets "$@"
