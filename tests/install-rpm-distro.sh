#!/usr/bin/env bash
# Installs nimsforest-nats with dnf from the signed repository at $REPO_URL on a booted
# RPM distribution (Rocky Linux, Fedora, ...) and checks the node it makes, then removes
# it. Runs as root inside the system under test, with systemd as PID 1; the install
# workflow (.github/workflows/install.yml) runs it in containers.
#
#   REPO_URL=http://127.0.0.1:8080 install-rpm-distro.sh
#
# Every failed check stops the script with "FAIL: <what>" and the service's state.
set -euo pipefail

REPO_URL=${REPO_URL:-http://127.0.0.1:8080}
PKG=nimsforest-nats
UNIT=nimsforest-nats.service
CONF=/etc/nimsforest/nats.conf
HEALTHZ='http://127.0.0.1:8222/healthz?js-enabled-only=true'
STREAM=INSTALLTEST

step() { printf '\n=== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
  if [ -d /run/systemd/system ]; then
    printf '\n--- %s at the failure:\n' "$UNIT" >&2
    systemctl status --no-pager "$UNIT" >&2 || true
    journalctl --no-pager -n 50 -u "$UNIT" >&2 || true
  fi
  printf '\nFAIL: %s\n' "$*" >&2
  exit 1
}

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local seconds=$1 i
  shift
  for ((i = 0; i < seconds; i++)); do
    "$@" && return 0
    sleep 1
  done
  "$@"
}

# One JetStream API request (or a publish to a stream) over the NATS client protocol on
# 127.0.0.1:4222, without a client library: bash's /dev/tcp speaks it well enough.
# Prints the reply's payload.
nats_request() {
  local subject=$1 payload=$2 line
  exec 3<>/dev/tcp/127.0.0.1/4222 || fail "cannot connect to 127.0.0.1:4222"
  IFS= read -r -t 10 line <&3 || fail "no INFO from the server on 4222"
  [[ $line == INFO* ]] || fail "the server on 4222 did not greet with INFO: $line"
  printf 'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.installtest 1\r\nPUB %s _INBOX.installtest %d\r\n%s\r\n' \
    "$subject" "${#payload}" "$payload" >&3
  while IFS= read -r -t 10 line <&3; do
    line=${line%$'\r'}
    case $line in
      MSG*)
        IFS= read -r -t 10 line <&3 || break
        exec 3>&-
        printf '%s\n' "${line%$'\r'}"
        return 0
        ;;
      -ERR*) fail "the server refused $subject: $line" ;;
    esac
  done
  exec 3>&-
  fail "no reply to $subject within 10 s"
}

[ "$(id -u)" -eq 0 ] || fail "run this as root"
[ -d /run/systemd/system ] || fail "systemd is not running: the package would start nothing"
# shellcheck source=/dev/null
. /etc/os-release
step "on ${PRETTY_NAME:-unknown}: $(rpm -q rpm || true), $(rpm -qf "$(command -v dnf)" || true)"

step "repository: $REPO_URL"
curl -fsS -o /etc/yum.repos.d/nimsforest.repo "$REPO_URL/nimsforest.repo" ||
  fail "cannot fetch $REPO_URL/nimsforest.repo"
cat /etc/yum.repos.d/nimsforest.repo
# No key is imported by hand: dnf must fetch it from gpgkey= and check the repository
# metadata (repo_gpgcheck) and the package (gpgcheck) with it.
for setting in gpgcheck=1 repo_gpgcheck=1 "gpgkey=$REPO_URL/RPM-GPG-KEY-nimsforest"; do
  grep -qx "$setting" /etc/yum.repos.d/nimsforest.repo ||
    fail "the published nimsforest.repo does not set $setting"
done
ok "nimsforest.repo turns on gpgcheck and repo_gpgcheck with the published key"

step "dnf install -y $PKG"
dnf install -y "$PKG" || fail "dnf install $PKG failed"
rpm -q "$PKG" || fail "$PKG is not installed after dnf install"
# Older rpm lists its keys as gpg-pubkey pseudo-packages, newer rpm with `rpmkeys --list`.
keys=$( (rpm -q gpg-pubkey --qf '%{SUMMARY}\n' 2>/dev/null; rpmkeys --list 2>/dev/null) || true)
grep -qi nimsforest <<<"$keys" || fail "dnf did not import the repository key; keys: $keys"
ok "dnf imported the key from gpgkey= and verified repository and package with it"

step "service"
enabled=$(systemctl is-enabled "$UNIT" 2>&1) || true
[ "$enabled" = enabled ] || fail "$UNIT is not enabled after install (is-enabled: $enabled)"
ok "$UNIT is enabled"
wait_for 30 systemctl is-active --quiet "$UNIT" ||
  fail "$UNIT is not active after install ($(systemctl is-active "$UNIT"))"
ok "$UNIT is active"
systemctl is-active --quiet nats || fail "nats (the alias) is not active ($(systemctl is-active nats))"
ok "nats.service (alias) is active"

step "account and directories"
entry=$(getent passwd nimsforest) || fail "user nimsforest does not exist"
getent group nimsforest >/dev/null || fail "group nimsforest does not exist"
IFS=: read -r _ _ _ _ _ home shell <<<"$entry"
[ "$home" = /var/lib/nimsforest ] || fail "nimsforest's home is $home, not /var/lib/nimsforest"
case $shell in */nologin | */false) ;; *) fail "nimsforest has a login shell: $shell" ;; esac
ok "user nimsforest: $entry"
for dir in /var/lib/nimsforest /var/lib/nimsforest/data /var/lib/nimsforest/jetstream /var/log/nimsforest; do
  [ -d "$dir" ] || fail "$dir is missing"
  got=$(stat -c '%U:%G %a' "$dir")
  [ "$got" = "nimsforest:nimsforest 750" ] || fail "$dir is $got, not nimsforest:nimsforest 750"
done
ok "/var/lib/nimsforest{,/data,/jetstream} and /var/log/nimsforest are nimsforest:nimsforest 750"
[ -f /etc/nimsforest/cluster.conf ] || fail "the install did not write /etc/nimsforest/cluster.conf"
ok "cluster.conf written at install"

step "server"
healthz() { [ "$(curl -sS -o /dev/null -w '%{http_code}' "$HEALTHZ" 2>/dev/null)" = 200 ]; }
wait_for 30 healthz || fail "GET $HEALTHZ did not answer 200 within 30 s"
ok "GET $HEALTHZ: $(curl -fsS "$HEALTHZ")"
# Data for the removal to keep: a file-backed stream holding one message.
reply=$(nats_request "\$JS.API.STREAM.CREATE.$STREAM" \
  "{\"name\":\"$STREAM\",\"subjects\":[\"installtest.>\"],\"storage\":\"file\"}")
[[ $reply == *stream_create_response* && $reply != *'"error"'* ]] ||
  fail "JetStream did not create stream $STREAM: $reply"
reply=$(nats_request installtest.hello "kept across removal")
[[ $reply == *"\"stream\":\"$STREAM\""* && $reply == *'"seq":'* && $reply != *'"error"'* ]] ||
  fail "JetStream did not store the message: $reply"
ok "JetStream stored a message in stream $STREAM"
[ -d "/var/lib/nimsforest/jetstream/\$G/streams/$STREAM" ] ||
  fail "stream $STREAM is not stored under /var/lib/nimsforest/jetstream"
[ -s /var/log/nimsforest/nats.log ] || fail "the server does not log to /var/log/nimsforest/nats.log"
ok "the server logs to /var/log/nimsforest/nats.log"
printf 'systemd-analyze security: %s\n' "$(systemd-analyze security "$UNIT" 2>&1 | tail -n 1)"

step "rpm -V $PKG"
report=$(rpm -V "$PKG" 2>&1) || true
[ -z "$report" ] || fail "rpm -V $PKG reports changes right after install:
$report"
ok "rpm -V is clean"
# An admin's edit: rpm -V shows it as a changed config file, and nothing else.
printf '\n# edited by the install test\n' >>"$CONF"
report=$(rpm -V "$PKG" 2>&1) || true
printf '%s\n' "$report"
grep -Eq "^[^ ]*5[^ ]* +c +$CONF\$" <<<"$report" || fail "rpm -V does not show the edit of $CONF"
unexpected=$(grep -Ev "^[^ ]+ +c +$CONF\$" <<<"$report" || true)
[ -z "$unexpected" ] || fail "rpm -V reports more than the edited $CONF:
$unexpected"
ok "rpm -V shows only the edited config file"

step "dnf remove -y $PKG"
dnf remove -y "$PKG" || fail "dnf remove $PKG failed"
! rpm -q "$PKG" >/dev/null || fail "$PKG is still installed after dnf remove"
state=$(systemctl is-active "$UNIT" 2>&1) || true
case $state in active | activating | deactivating | reloading) fail "$UNIT is still $state after removal" ;; esac
! pgrep -x nats-server >/dev/null || fail "nats-server still runs after removal: $(pgrep -a nats-server)"
! curl -fsS -o /dev/null "$HEALTHZ" 2>/dev/null || fail "the monitoring port still answers after removal"
ok "the server is stopped ($UNIT: $state)"
for link in /etc/systemd/system/nats.service /etc/systemd/system/multi-user.target.wants/$UNIT; do
  [ ! -L "$link" ] || fail "$link is left behind: the service was not disabled"
done
ok "the service is disabled (no enablement links left)"
# rpm keeps an edited config file as .rpmsave (an unedited one it would delete).
[ -f "$CONF.rpmsave" ] || fail "the edited $CONF was not kept as $CONF.rpmsave"
grep -q 'edited by the install test' "$CONF.rpmsave" || fail "$CONF.rpmsave lacks the edit"
ok "the edited configuration is kept as $CONF.rpmsave"
[ -f /etc/nimsforest/cluster.conf ] || fail "/etc/nimsforest/cluster.conf was removed"
[ -d "/var/lib/nimsforest/jetstream/\$G/streams/$STREAM" ] ||
  fail "the JetStream data in /var/lib/nimsforest was removed"
ok "cluster.conf and the JetStream data in /var/lib/nimsforest are kept"
getent passwd nimsforest >/dev/null || fail "user nimsforest was deleted"
ok "user nimsforest is kept"

step "all checks passed on ${PRETTY_NAME:-unknown}"
