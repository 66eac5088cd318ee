//! The install itself, run by `runcmd` (cloud-init's final stage) rather than by
//! cloud-init's `packages:`: a node booted while its repository does not answer (a
//! refused connection, a 5xx, a proxy still starting) must still install and join once
//! the repository is back. cloud-init runs its modules once and `packages:` never tries
//! again, so the script below does: the distribution's own package manager, every 10 s,
//! for at most 60 attempts (about ten minutes), each attempt logged to the console and
//! `/var/log/cloud-init-output.log`; a repository that refuses the node (HTTP 4xx) ends
//! it at once. The package names are arguments of the script, never part of its text.

use std::fmt::Write;

use super::quote;

/// Attempts before the node gives up (and cloud-init reports the failure).
pub const ATTEMPTS: u32 = 60;
/// Seconds between attempts.
pub const PAUSE: u32 = 10;

/// `sh -c SCRIPT nimsforest-install MANAGER PACKAGE...`. A refusal (HTTP 400, 401, 403,
/// 407: wrong credentials, no client certificate) is the repository's answer, not an
/// outage: the node gives up at once and says so.
fn script() -> String {
    format!(
        r#"manager=$1; shift
log=$(mktemp) || exit 1
attempt=1
while :; do
    case "$manager" in
        apt) {{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=120 "$@"; }} >"$log" 2>&1 ;;
        dnf) dnf -y --refresh install "$@" >"$log" 2>&1 ;;
    esac
    status=$?
    cat "$log"
    if [ "$status" -eq 0 ]; then
        rm -f "$log"
        echo "nimsforest-install: installed $* (attempt $attempt)"
        exit 0
    fi
    if grep -Eq ' (400|401|403|407) +[A-Z]|Status code: (400|401|403|407) ' "$log"; then
        rm -f "$log"
        echo "nimsforest-install: the repository refused this node (its credentials or client certificate); not trying again" >&2
        exit 1
    fi
    if [ "$attempt" -ge {ATTEMPTS} ]; then
        rm -f "$log"
        echo "nimsforest-install: $* not installed after $attempt attempts; giving up" >&2
        exit 1
    fi
    echo "nimsforest-install: attempt $attempt to install $* failed (is the repository up?); again in {PAUSE} s" >&2
    attempt=$((attempt + 1))
    sleep {PAUSE}
done"#
    )
}

/// The `runcmd:` that installs `packages` with apt or dnf.
pub fn runcmd(out: &mut String, rpm: bool, packages: &[&str]) {
    out.push_str("runcmd:\n");
    let _ = write!(
        out,
        "  - [\"sh\", \"-c\", {}, \"nimsforest-install\", \"{}\"",
        quote(&script()),
        if rpm { "dnf" } else { "apt" }
    );
    for package in packages {
        let _ = write!(out, ", {}", quote(package));
    }
    out.push_str("]\n");
}
