#!/usr/bin/env bash
# CPU time per lifecycle of `pushback bench guard --url`, split between the loader (the
# bench process) and a server running in a process of its own.
#
#   scripts/bench-guard-split.sh URL SERVER_PID [PUSHBACK] [extra bench arguments]
#
# Start the server first (`pushback serve --listen 127.0.0.1:18080 --database-url …`),
# export the admin key it printed as PUSHBACK_ADMIN_KEY, and pass its pid. Each run
# enrols 1,000 more users on that server; both shares include their enrolment. Needs
# GNU time.
set -euo pipefail

URL=$1
SERVER=$2
BIN=${3:-target/release/pushback}
shift $(($# < 3 ? $# : 3))

server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }

before=$(server_ticks)
err=$(mktemp)
out=$(/usr/bin/time -f "%U %S" "$BIN" bench guard --url "$URL" --users 1000 --concurrency 32 \
    --duration 10s --json "$@" 2>"$err" | tr -d '\n ')
after=$(server_ticks)
read -r user sys < <(tail -1 "$err")
rm -f "$err"
python3 - "$out" "$user" "$sys" "$((after - before))" "$(getconf CLK_TCK)" <<'PY'
import json, sys
report = json.loads(sys.argv[1])
user, sys_, ticks, tick = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
lc = report["lifecycles"]
print(f"{report['lifecycles_per_sec']} lifecycles/s, p99 {report['p99_ms']} ms, "
      f"{report['errors']} errors; CPU per lifecycle: loader {(user + sys_) * 1000 / lc:.3f} ms, "
      f"server {ticks * 1000 / tick / lc:.3f} ms")
PY
