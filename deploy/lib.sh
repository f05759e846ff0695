# Shared helpers for deploy/run.sh and deploy/test.sh (sourced, not run).

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The newest PostgreSQL server bin directory, or nothing.
pg_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
    return 1
}

# Installs the PostgreSQL server with apt-get when it is missing. Debian's package would create and
# start a system-wide "main" cluster on port 5432; we do not need it, so we ask postgresql-common not to.
ensure_postgres() {
    if pg_bindir >/dev/null; then return 0; fi
    echo "PostgreSQL server not found: installing it with apt-get" >&2
    as_root mkdir -p /etc/postgresql-common
    if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
        echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    pg_bindir >/dev/null || { echo "error: PostgreSQL installation failed" >&2; return 1; }
}

ensure_dotnet() {
    if ! command -v dotnet >/dev/null 2>&1; then
        echo "error: the .NET 10 SDK (dotnet) is required: https://learn.microsoft.com/dotnet/core/install/linux-debian" >&2
        return 1
    fi
}

# Picks a free TCP port on loopback.
free_port() {
    python3 - 2>/dev/null <<'PY' || node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}
