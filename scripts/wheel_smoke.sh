#!/usr/bin/env bash
# The package as a user installs it: build the wheel and the sdist, install the wheel into a
# clean venv with no extras (then with [sandbox], [parquet] and [pandas]) and use it as a user
# would. An editable install hides what the wheel leaves out (importer.sandbox once was).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
pip_quiet=(--quiet --disable-pip-version-check)

echo "== build: wheel and sdist"
.venv/bin/python -m pip wheel "${pip_quiet[@]}" --no-deps --wheel-dir "$work/dist" . >/dev/null
.venv/bin/python -m build --version >/dev/null 2>&1 && .venv/bin/python -m build --sdist --outdir "$work/dist" . >/dev/null
wheel=$(ls "$work"/dist/*.whl)
.venv/bin/python - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
for needed in ("importer/cli.py", "importer/sandbox/app.py", "importer/sandbox/hosting.py", "importer/py.typed"):
    assert needed in names, f"the wheel lacks {needed}"
assert not any(n.startswith(("tests/", "bench/")) for n in names), "tests or bench in the wheel"
print(f"   {len(names)} files, importer.sandbox included")
PY

echo "== a clean venv, no extras"
"$PYTHON" -m venv "$work/plain"
"$work/plain/bin/pip" install "${pip_quiet[@]}" "$wheel"
"$work/plain/bin/kelviq-import" --help >/dev/null
"$work/plain/bin/python" -m importer --version
"$work/plain/bin/kelviq-import" validate sample_data/customers.csv --mapping sample_data/mapping.example.toml \
  --report-dir "$work/validate" --quiet || [ $? -eq 1 ]  # 1: the sample's invalid rows, on purpose
# Without the extra, the sandbox says how to get it, in one line, exit 2.
set +e
out=$("$work/plain/bin/kelviq-import" sandbox --port 0 2>&1); code=$?
set -e
[ "$code" -eq 2 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && grep -q "kelviq-import\[sandbox\]" <<<"$out" \
  || { echo "sandbox without its extra: exit $code: $out" >&2; exit 1; }

echo "== with [sandbox,parquet,pandas]"
"$work/plain/bin/pip" install "${pip_quiet[@]}" "$wheel[sandbox,parquet,pandas]"
log="$work/sandbox.log"
"$work/plain/bin/kelviq-import" sandbox --port 0 >"$log" 2>&1 &
pid=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^  base URL: //p' "$log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the installed sandbox did not start:" >&2; cat "$log" >&2; exit 1; }
set +e
KELVIQ_API_KEY=sandbox-demo-key "$work/plain/bin/kelviq-import" run sample_data/customers.csv \
  --mapping sample_data/mapping.example.toml --base-url "$url" --rate 0 --no-journal \
  --report-dir "$work/run" --quiet
code=$?
set -e
[ "$code" -eq 1 ] || { echo "the import of the samples exited $code" >&2; exit 1; }
"$work/plain/bin/python" - "$work/run/summary.json" <<'PY'
import json, sys
counts = json.load(open(sys.argv[1]))["counts"]
assert counts == {"created": 293, "invalid": 7}, counts
print(f"   samples imported from the wheel: {counts}")
PY
"$work/plain/bin/python" -c "import pyarrow, pandas, importer; print('   extras import:', importer.__name__)"
echo "== wheel smoke test passed"
