#!/usr/bin/env bash
# CPU time per lifecycle of `pushback bench guard` on PostgreSQL, split between
# pushback (server and loader, one process) and the PostgreSQL server.
#
#   scripts/bench-guard-cpu.sh [DATABASE_URL] [PUSHBACK]
#
# Throughput on this shared 2-core machine swings by ±20% from run to run; CPU time per
# lifecycle swings less, and says where the time goes. PostgreSQL's share is read from
# its postmaster: the CPU time of the backends it has reaped (`cutime`/`cstime` in
# /proc/PID/stat) plus that of the live ones, before and after the run. Both shares
# include the enrolment of the users before the measured window.
#
# DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/test; PUSHBACK to
# target/release/pushback. Needs a local PostgreSQL whose pid file is under
# /var/run/postgresql (Debian's layout), and GNU time.
set -euo pipefail

URL=${1:-postgres://postgres@127.0.0.1:5432/test}
BIN=${2:-target/release/pushback}
PM=$(head -1 /var/run/postgresql/*-main.pid)
TICK=$(getconf CLK_TCK)

postgres_ticks() {
    local t
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$PM/stat")
    for p in $(pgrep -P "$PM"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

before=$(postgres_ticks)
err=$(mktemp)
out=$(/usr/bin/time -f "%U %S" "$BIN" bench guard --users 1000 --concurrency 32 --duration 10s \
    --database-url "$URL" --json 2>"$err" | tr -d '\n ')
sleep 1
after=$(postgres_ticks)
read -r user sys < <(tail -1 "$err")
rm -f "$err"
field() { echo "$out" | grep -o "\"$1\":[0-9.]*" | cut -d: -f2; }
python3 - "$(field lifecycles)" "$(field lifecycles_per_sec)" "$(field p99_ms)" "$(field errors)" \
    "$user" "$sys" "$before" "$after" "$TICK" <<'PY'
import sys
lc, lps, p99, errors, user, sys_, before, after, tick = sys.argv[1:]
lc = int(lc)
pushback = (float(user) + float(sys_)) * 1000 / lc
postgres = (int(after) - int(before)) * 1000 / int(tick) / lc
print(f"{lps} lifecycles/s, p99 {p99} ms, {errors} errors; CPU per lifecycle: "
      f"pushback {pushback:.3f} ms, PostgreSQL {postgres:.3f} ms")
PY
