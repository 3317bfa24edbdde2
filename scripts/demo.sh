#!/usr/bin/env bash
# Start the bundled sandbox on a free loopback port, import sample_data/customers.csv into it,
# show the summary and where the report is, then stop the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
log=$(mktemp)
"$BIN/kelviq-import" sandbox --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^  base URL: //p' "$log")
  [ -n "$url" ] && break
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "demo: the sandbox did not start" >&2; cat "$log" >&2; exit 1; }
echo "== sandbox running at $url"
echo "== kelviq-import run sample_data/customers.csv --mapping sample_data/mapping.example.toml"
set +e
KELVIQ_API_KEY=sandbox-demo-key "$BIN/kelviq-import" run sample_data/customers.csv \
  --mapping sample_data/mapping.example.toml --base-url "$url" --rate 0 --concurrency 16 --no-journal
code=$?
set -e
echo "== exit code $code (1 = some rows were invalid: sample_data has 7 bad rows on purpose)"
latest=$(ls -1d kelviq-import-reports/*/ | tail -n 1)
echo "== the rows to fix, from ${latest}failed.csv:"
"$BIN/python" - "${latest}failed.csv" <<'PY'
import csv, sys
for row in list(csv.reader(open(sys.argv[1], encoding="utf-8")))[1:]:
    print(f"  {row[0] or '(no id)':<12} {row[-1]}")
PY
echo "== open ${latest}report.html in a browser for the whole picture"
[ "$code" -le 1 ] || exit "$code"
