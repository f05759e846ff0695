#!/usr/bin/env bash
# Runs the real-client scenarios (matrix-js-sdk under `node --test`) against a homeserver started just for them:
# builds the server (Release), gives it a fresh database and a fresh configuration on a free loopback port,
# waits for /_matrix/client/versions, runs the scenarios, stops the server with SIGINT and exits with the
# test runner's status. The runner's TAP output ends with "# pass N" / "# fail N" lines (deploy/test.sh sums them).
#
#   spec-compliance/run.sh                              # every scenarios/*.test.js
#   spec-compliance/run.sh scenarios/login.test.js      # only these files (paths relative to spec-compliance/)
#
# Environment:
#   HS_TEST_DATABASE  admin connection string (Npgsql) of a PostgreSQL cluster, as deploy/test.sh sets it:
#                     a new database is created there with psql for this run and dropped afterwards.
#                     Unset: the server's own embedded PostgreSQL in a temporary data directory.
#   HS_BUILD_DIR      an already published server (a folder with Homeserver.dll): skip the build.
#   KEEP_WORK=1       keep the temporary folder (homeserver.yaml, server.log) and print where it is.
#   SDK_LOG=debug     show matrix-js-sdk's own log lines (every HTTP request) in the scenarios' output.
#
# Exit status: 0 when every scenario passed, 1 when some failed, 2 when the set-up failed (build, database,
# server start, npm ci). Works as root and as a normal user; needs .NET 10, Node.js >= 20 with npm, and
# PostgreSQL (installed with apt-get by deploy/lib.sh when it is missing).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
. "$root/deploy/lib.sh"

say() { echo "spec-compliance: $*" >&2; }
fail_setup() { say "$*"; exit 2; }

command -v node >/dev/null 2>&1 || fail_setup "Node.js (>= 20) is required: apt-get install nodejs npm"
command -v npm >/dev/null 2>&1 || fail_setup "npm is required: apt-get install npm"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || fail_setup "Node.js >= 20 is required, this is $(node --version)"
ensure_dotnet || exit 2

work="$(mktemp -d "${TMPDIR:-/tmp}/homeserver-js.XXXXXX")" || fail_setup "cannot create a temporary folder"
# As root the embedded PostgreSQL runs as the postgres account, which must be able to reach this folder.
chmod 755 "$work"
server_pid=""
db_name=""
psql_bin=""
pg_env=()

stop_server() {
    [ -n "$server_pid" ] || return 0
    if kill -0 "$server_pid" 2>/dev/null; then
        kill -INT "$server_pid" 2>/dev/null
        for _ in $(seq 1 300); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            say "the server did not stop within 30 s of SIGINT; killing it"
            kill -KILL "$server_pid" 2>/dev/null
        fi
    fi
    wait "$server_pid" 2>/dev/null
    server_status=$?
    server_pid=""
    return 0
}

cleanup() {
    stop_server
    if [ -n "$db_name" ]; then
        env "${pg_env[@]}" "$psql_bin" -v ON_ERROR_STOP=1 -q -c "DROP DATABASE IF EXISTS \"$db_name\" WITH (FORCE)" >/dev/null 2>&1 \
            || say "could not drop database $db_name"
    fi
    # An embedded cluster left running (server killed): stop it.
    if [ -f "$work/data/postgres/postmaster.pid" ]; then
        bindir="$(pg_bindir)"
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$bindir/pg_ctl" -D "$work/data/postgres" -m immediate -w stop >/dev/null 2>&1
        else
            "$bindir/pg_ctl" -D "$work/data/postgres" -m immediate -w stop >/dev/null 2>&1
        fi
    fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the server build ------------------------------------------------------------------------------------------
if [ -n "${HS_BUILD_DIR:-}" ]; then
    build="$HS_BUILD_DIR"
    [ -f "$build/Homeserver.dll" ] || fail_setup "HS_BUILD_DIR=$build has no Homeserver.dll"
else
    build="$root/.build/spec-compliance/server"
    say "building the server (Release) into $build"
    dotnet publish "$root/src/Homeserver.Host/Homeserver.Host.csproj" -c Release -o "$build" --nologo -v quiet >&2 \
        || fail_setup "the server did not build"
fi

# --- the database ----------------------------------------------------------------------------------------------
# Npgsql connection string -> libpq environment for psql (keys are case-insensitive, as Npgsql's are).
pg_env_from() {
    local part key value
    local IFS=';'
    for part in $1; do
        key="${part%%=*}"
        value="${part#*=}"
        key="$(echo "$key" | tr '[:upper:]' '[:lower:]' | tr -d ' ')"
        case "$key" in
            host|server) pg_env+=("PGHOST=$value") ;;
            port) pg_env+=("PGPORT=$value") ;;
            username|user|userid|"user id") pg_env+=("PGUSER=$value") ;;
            password) pg_env+=("PGPASSWORD=$value") ;;
            database|db) pg_env+=("PGDATABASE=$value") ;;
        esac
    done
}

if [ -n "${HS_TEST_DATABASE:-}" ]; then
    if bindir="$(pg_bindir)" && [ -x "$bindir/psql" ]; then
        psql_bin="$bindir/psql"
    elif command -v psql >/dev/null 2>&1; then
        psql_bin="$(command -v psql)"
    else
        fail_setup "psql is needed to create a database in HS_TEST_DATABASE (apt-get install postgresql-client)"
    fi
    pg_env_from "$HS_TEST_DATABASE"
    name="js_$(date +%s)_$$"
    env "${pg_env[@]}" "$psql_bin" -v ON_ERROR_STOP=1 -q \
        -c "CREATE DATABASE \"$name\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" >&2 \
        || fail_setup "could not create a database with HS_TEST_DATABASE"
    db_name="$name"
    # The same connection string with our database instead of the admin one.
    database=""
    IFS=';' read -r -a parts <<<"$HS_TEST_DATABASE"
    for part in "${parts[@]}"; do
        key="$(echo "${part%%=*}" | tr '[:upper:]' '[:lower:]' | tr -d ' ')"
        case "$key" in database|db|"") ;; *) database+="$part;" ;; esac
    done
    database+="Database=$db_name"
    say "database $db_name in the cluster of HS_TEST_DATABASE"
else
    ensure_postgres || exit 2
    database=""
    say "no HS_TEST_DATABASE: the server starts its embedded PostgreSQL under $work/data"
fi

# --- configuration and start ---------------------------------------------------------------------------------------
port="$(free_port)"
[ -n "$port" ] || fail_setup "could not find a free port"
secret="$(node -p 'require("crypto").randomBytes(24).toString("hex")')"
server_name="localhost:$port"
base_url="http://127.0.0.1:$port"
mkdir -p "$work/data"
cat >"$work/homeserver.yaml" <<EOF
# Written by spec-compliance/run.sh for one run of the real-client scenarios.
server_name: "$server_name"
public_baseurl: "$base_url/"
data_directory: "$work/data"
listeners:
  - port: $port
    bind_addresses: ['127.0.0.1']
    tls: false
    resources:
      - names: [client, federation, media]
database: "$database"
signing_key_path: "$work/signing.key"
media_store_path: "$work/data/media_store"
enable_registration: true
registration_shared_secret: "$secret"
allow_guest_access: true
rc_enabled: false
ip_range_blacklist: []
password_hashing:
  memory_kib: 64
  iterations: 1
logging:
  level: info
  format: text
EOF

say "starting the server as $server_name on $base_url"
# Job control gives the server its own process group and, unlike a plain background job of a script,
# leaves SIGINT not ignored, so that SIGINT shuts it down cleanly.
set -m
dotnet "$build/Homeserver.dll" --config "$work/homeserver.yaml" >"$work/server.log" 2>&1 &
server_pid=$!
set +m

print_server_log() {
    echo "----- server log ($work/server.log) -----" >&2
    cat "$work/server.log" >&2
    echo "----- end of server log -----" >&2
}

ready=0
for _ in $(seq 1 240); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid"
        code=$?
        server_pid=""
        print_server_log
        fail_setup "the server exited during start-up with status $code"
    fi
    if node -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
        "$base_url/_matrix/client/versions" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.25
done
if [ "$ready" != 1 ]; then
    print_server_log
    fail_setup "the server did not answer /_matrix/client/versions within 60 s"
fi

# --- the scenarios -----------------------------------------------------------------------------------------------
cd "$here" || exit 2
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing the JavaScript dependencies (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error >&2 || fail_setup "npm ci failed"
fi

if [ $# -gt 0 ]; then
    files=("$@")
else
    files=(scenarios/*.test.js)
fi

say "running ${#files[@]} scenario file(s)"
HS_BASE_URL="$base_url" HS_SERVER_NAME="$server_name" HS_SHARED_SECRET="$secret" \
    node --import ./lib/polyfills.js --test --test-reporter=tap --test-timeout=120000 --test-force-exit "${files[@]}"
status=$?

server_status=0
stop_server
if [ "$status" != 0 ]; then
    print_server_log
elif [ "$server_status" != 0 ] && [ "$server_status" != 130 ]; then
    # A clean SIGINT shutdown exits 0; anything else deserves a look even when every scenario passed.
    say "the server exited with status $server_status on SIGINT"
    print_server_log
fi
if grep -qE ' (fail|crit): |Unhandled exception' "$work/server.log"; then
    say "the server logged errors during the run:"
    grep -E -A 30 ' (fail|crit): |Unhandled exception' "$work/server.log" | head -200 >&2
fi
exit "$status"
