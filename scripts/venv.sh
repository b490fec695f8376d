#!/usr/bin/env bash
# Prints the path of defectlab's virtual environment, creating it first if needed.
# The environment lives outside the clone, keyed by a hash of the dependency list in
# pyproject.toml, so fresh clones and CI reuse it instead of reinstalling torch. defectlab itself is
# installed editable (no dependencies, no network) from the clone that last ran this script, so
# `defectlab` is a command in the environment; another clone's run re-points it in about 2 seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${DEFECTLAB_PYTHON:-$(command -v python3.11 || command -v python3)}
root=${DEFECTLAB_VENV_ROOT:-$HOME/.cache/defectlab}
deps=$("$py" - "$here/pyproject.toml" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print("\n".join(sorted(project["dependencies"] + project["optional-dependencies"]["dev"])))
PY
)
no_deps=$("$py" - "$here/pyproject.toml" <<'PY'
import sys, tomllib
print("\n".join(sorted(tomllib.load(open(sys.argv[1], "rb"))["tool"]["defectlab"]["no-deps"])))
PY
)
hash=$(printf '%s\n%s\n%s\n' "$("$py" -c 'import sys; print(sys.version)')" "$deps" "$no_deps" | sha256sum | cut -c1-16)
venv="$root/venv-$hash"
mkdir -p "$root"
exec 9>"$root/.lock-$hash"
flock 9
if [ ! -f "$venv/.ready" ]; then
  rm -rf "$venv"
  echo "defectlab: creating virtual environment $venv (one time, about 3 minutes)" >&2
  "$py" -m venv "$venv"
  quiet() { { grep -v "^WARNING: Location 'file:" || true; } >&2; }  # local index mirrors lack some packages
  "$venv/bin/python" -m pip install --quiet --upgrade pip 2>&1 | quiet
  printf '%s\n' "$deps" > "$venv/requirements.txt"
  "$venv/bin/python" -m pip install --quiet -r "$venv/requirements.txt" 2>&1 | quiet
  printf '%s\n' "$no_deps" > "$venv/requirements-no-deps.txt"
  "$venv/bin/python" -m pip install --quiet --no-deps -r "$venv/requirements-no-deps.txt" 2>&1 | quiet
  touch "$venv/.ready"
fi
if [ "$(cat "$venv/.defectlab-src" 2>/dev/null)" != "$here" ] || [ ! -x "$venv/bin/defectlab" ]; then
  log=$(mktemp)
  if ! "$venv/bin/python" -m pip install --no-deps --no-build-isolation --editable "$here" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  printf '%s\n' "$here" > "$venv/.defectlab-src"
fi
echo "$venv"
