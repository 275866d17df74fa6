# Sourced by scripts/lab and scripts/test: make .venv with Python >= 3.11 and the
# project installed (editable) with the given extra; reinstall only when pyproject changes.
# Each step prints one line; what pip and apt say goes to a log whose path is printed
# (and whose tail is shown when a step fails).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
LAB_LOG_DIR="$root/.venv/logs"

step() { printf '==> %s\n' "$*"; }

# Run "$@" with its output appended to log $1; on failure show the log's tail and exit.
logged() {
  local log=$1; shift
  if ! "$@" >>"$log" 2>&1; then
    echo "error: '$*' failed; the last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
}

pick_python() {
  for py in "${PYTHON:-}" python3 python3.13 python3.12 python3.11 python; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {
  local extra=$1
  local py; py=$(pick_python)
  if [ ! -x .venv/bin/python ]; then
    step "creating .venv with $py ($("$py" --version 2>&1))"
    local out
    if ! out=$("$py" -m venv .venv 2>&1); then
      echo "error: $py -m venv failed (Debian/Ubuntu: apt-get install python3-venv):" >&2
      echo "$out" >&2
      exit 1
    fi
  fi
  mkdir -p "$LAB_LOG_DIR"
  local stamp=".venv/.installed-$extra"
  local want; want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    local log="$LAB_LOG_DIR/pip-install.log"
    : >"$log"
    step "installing the project and its '$extra' dependencies into .venv (first run: 1–2 min; log: $log)"
    local pip=(.venv/bin/python -m pip --disable-pip-version-check)
    logged "$log" "${pip[@]}" install --upgrade pip
    logged "$log" "${pip[@]}" install -e ".[$extra]"
    echo "$want" > "$stamp"
  fi
  # The project's own modules, compiled once: an editable install leaves them to each
  # process, and where PYTHONDONTWRITEBYTECODE is set (CI images often do) every
  # labcluster server, kernel and pod process compiled them again (~0.5 s of CPU each).
  # Only what changed is compiled again; -q prints only errors.
  .venv/bin/python -m compileall -q -j 0 labcluster labhelpers labcourse storefront >/dev/null || true
  export PATH="$root/.venv/bin:$PATH"
}

# Install Debian packages as root with apt-get; returns 1 when that was possible and
# failed, 2 when it was not possible (not root, no apt-get). LAB_SKIP_APT=1 skips.
apt_install() {
  local what=$1; shift
  local log="$LAB_LOG_DIR/apt.log"
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    return 2
  fi
  step "installing $what from apt: $* (log: $log)"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "$@"; } >>"$log" 2>&1; then
    echo "error: apt-get install $* failed; the last lines of $log:" >&2
    tail -n 15 "$log" >&2
    return 1
  fi
}

has_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }

# The lab's frontend runs the real nginx where it is installed (labcluster's built-in
# stand-in otherwise, which says what it leaves out). As root with apt, install it.
ensure_nginx() {
  [ "${LAB_SKIP_APT:-0}" = 1 ] && return 0
  has_nginx && return 0
  local rc=0
  apt_install "the real nginx for the frontend" nginx || rc=$?
  if [ "$rc" != 0 ]; then
    echo "note: nginx is not installed, so the frontend pods run labcluster's built-in" \
         "stand-in (notebook 01 and 'labcluster status' say what differs)" >&2
  fi
  return 0
}

# Is this a CI run (CI set, as GitHub Actions and GitLab set it)? tests/tools.py asks the same.
ci_run() { case "${CI:-}" in ""|0|false|False|FALSE|no) return 1 ;; *) return 0 ;; esac; }

# The system tools some tests use for real that are not there: nginx as the frontend,
# hey/wrk as load-test peers, chromium for the browser tests, kubectl for the kubectl tests.
missing_test_tools() {
  has_nginx || echo nginx
  local t
  for t in hey wrk chromium kubectl; do command -v "$t" >/dev/null 2>&1 || echo "$t"; done
}

# As root with apt-get, install the Debian ones (kubectl is not in Debian at a current
# version). On CI or as root a tool still missing afterwards fails the run: CI must not turn
# a missing tool into a skip (tests/tools.py fails those tests there too). Elsewhere the
# tests that need it skip and say why. LAB_SKIP_APT=1 skips the install, not the check.
ensure_system_packages() {
  local missing=() debian=() t
  mapfile -t missing < <(missing_test_tools)
  [ ${#missing[@]} -eq 0 ] && return 0
  for t in "${missing[@]}"; do [ "$t" = kubectl ] || debian+=("$t"); done
  if [ "${LAB_SKIP_APT:-0}" != 1 ] && [ ${#debian[@]} -gt 0 ]; then
    local rc=0
    apt_install "what the tests use" "${debian[@]}" || rc=$?
    [ "$rc" = 1 ] && exit 1
    mapfile -t missing < <(missing_test_tools)
    [ ${#missing[@]} -eq 0 ] && return 0
  fi
  if ci_run || [ "$(id -u)" = 0 ]; then
    echo "error: ${missing[*]} not installed, and on CI or as root the tests that need them" \
         "must run, not skip (Debian: apt-get install ${debian[*]:-…}; kubectl:" \
         "https://kubernetes.io/docs/tasks/tools/install-kubectl-linux/)" >&2
    exit 1
  fi
  echo "note: ${missing[*]} not installed (not root or no apt-get); the tests that need" \
       "them will skip and say why" >&2
}
