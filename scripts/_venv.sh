# Sourced by scripts/lab and scripts/test: make .venv with Python >= 3.11 and the
# project installed (editable) with the given extra; reinstall only when pyproject changes.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
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
    echo "==> creating .venv with $py"
    "$py" -m venv .venv
  fi
  local stamp=".venv/.installed-$extra"
  local want; want=$(sha256sum pyproject.toml | cut -c1-16)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing the project and its '$extra' dependencies into .venv (first run: about a minute)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extra]"
    echo "$want" > "$stamp"
  fi
  export PATH="$root/.venv/bin:$PATH"
}

# Debian packages some tests use for real (nginx as the frontend, hey/wrk as load-test
# peers, chromium for the browser test). Installed when we can (root + apt-get); without
# them those tests skip and say why. LAB_SKIP_APT=1 opts out.
ensure_system_packages() {
  [ "${LAB_SKIP_APT:-0}" = 1 ] && return 0
  local missing=()
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v hey >/dev/null 2>&1 || missing+=(hey)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian packages: ${missing[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/tmp/lab-apt.log 2>&1; then
      echo "warning: apt-get failed (see /tmp/lab-apt.log); tests that need ${missing[*]} will skip" >&2
    fi
  else
    echo "note: not root or no apt-get; tests that need ${missing[*]} will skip" >&2
  fi
}
