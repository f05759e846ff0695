#!/usr/bin/env bash
# Runs every test suite against a throwaway PostgreSQL cluster and ends with one line "N passed, N failed".
#   deploy/test.sh            # everything: .NET suites, then the real-client (matrix-js-sdk) scenarios
#   deploy/test.sh --dotnet   # only the .NET suites
#   deploy/test.sh --js       # only the real-client scenarios
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/deploy/lib.sh"

run_dotnet=1
run_js=1
case "${1:-}" in
    --dotnet) run_js=0 ;;
    --js) run_dotnet=0 ;;
    "") ;;
    *) echo "usage: deploy/test.sh [--dotnet|--js]" >&2; exit 1 ;;
esac

ensure_dotnet || exit 1
ensure_postgres || exit 1

work="$(mktemp -d /tmp/homeserver-test.XXXXXX)"
chmod 755 "$work"
pg_dir="$work/pg"
bindir="$(pg_bindir)"
pg_user=""
if [ "$(id -u)" = 0 ]; then pg_user=postgres; fi
as_pg() { if [ -n "$pg_user" ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi; }

cleanup() {
    if [ -f "$pg_dir/postmaster.pid" ]; then as_pg "$bindir/pg_ctl" -D "$pg_dir" -m immediate -w stop >/dev/null 2>&1; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "Starting a throwaway PostgreSQL cluster in $pg_dir" >&2
mkdir -p "$pg_dir"
if [ -n "$pg_user" ]; then chown "$pg_user" "$pg_dir"; fi
as_pg "$bindir/initdb" -D "$pg_dir" -U homeserver --auth=trust --encoding=UTF8 --locale=C --no-instructions >"$work/initdb.log" 2>&1 \
    || { cat "$work/initdb.log" >&2; exit 1; }
# Durability is irrelevant for a throwaway cluster: fsync off makes the suite much faster.
as_pg "$bindir/pg_ctl" -D "$pg_dir" -l "$pg_dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses='' -k $pg_dir -p 5432 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null \
    || { cat "$pg_dir/postgres.log" >&2; exit 1; }
export HS_TEST_DATABASE="Host=$pg_dir;Port=5432;Username=homeserver;Database=postgres"

passed=0
failed=0

if [ "$run_dotnet" = 1 ]; then
    echo "Building (Release)" >&2
    if ! dotnet build "$root/Homeserver.sln" -c Release --nologo -v quiet; then
        echo "0 passed, 1 failed"
        exit 1
    fi
    for proj in "$root"/tests/*.Tests/*.Tests.csproj; do
        name="$(basename "$proj" .csproj)"
        log="$work/$name.log"
        dotnet test "$proj" -c Release --no-build --nologo 2>&1 | tee "$log" | grep -E "^(Passed|Failed)!|error|\[FAIL\]" >&2
        line="$(grep -E "^(Passed|Failed)!" "$log" | tail -1)"
        if [ -z "$line" ] && grep -q "No test is available" "$log"; then
            # A project with no tests yet (e.g. a module whose work is on another branch) has nothing to fail.
            echo "$name: no tests" >&2
            continue
        fi
        if [ -z "$line" ]; then
            echo "$name: no result (crashed?)" >&2
            tail -30 "$log" >&2
            failed=$((failed + 1))
            continue
        fi
        p="$(echo "$line" | sed -E 's/.*Passed: *([0-9]+).*/\1/')"
        f="$(echo "$line" | sed -E 's/.*Failed: *([0-9]+),.*/\1/')"
        passed=$((passed + p))
        failed=$((failed + f))
        if [ "$f" != 0 ]; then
            # The reasons, so that a red CI run says why without the log (which is removed with the work folder).
            grep -E -A25 "\[FAIL\]" "$log" | head -200 >&2
        fi
    done
fi

if [ "$run_js" = 1 ] && [ -f "$root/spec-compliance/package.json" ]; then
    "$root/spec-compliance/run.sh" >"$work/js.log" 2>&1
    js_status=$?
    cat "$work/js.log" >&2
    p="$(grep -E '^# pass ' "$work/js.log" | tail -1 | awk '{print $3}')"
    f="$(grep -E '^# fail ' "$work/js.log" | tail -1 | awk '{print $3}')"
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ -z "$p" ] || { [ "$js_status" != 0 ] && [ "${f:-0}" = 0 ]; }; then
        echo "spec-compliance: the real-client suite did not run to the end" >&2
        failed=$((failed + 1))
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
