#!/usr/bin/env bash
# Runs the homeserver: installs PostgreSQL if missing, builds, and starts the server.
# With no --config, the data directory (default ./.data, or $HS_DATA_DIR) holds homeserver.yaml
# (written on the first run: server_name localhost, listener 127.0.0.1:8008), the signing key,
# the media store and a private PostgreSQL cluster.
#   deploy/run.sh                      # first run creates .data/ and starts on 127.0.0.1:8008
#   deploy/run.sh --config my.yaml     # use an existing configuration as it is
#   deploy/run.sh register-user ...    # other subcommands of the server
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/deploy/lib.sh"

ensure_dotnet
ensure_postgres

out="$root/.build/server"
echo "Building the server (Release) into $out" >&2
dotnet publish "$root/src/Homeserver.Host/Homeserver.Host.csproj" -c Release -o "$out" --nologo -v quiet >&2

args=("$@")
has_config=0
for a in "${args[@]+"${args[@]}"}"; do
    if [ "$a" = "--config" ]; then has_config=1; fi
done
if [ "$has_config" = 0 ]; then
    args+=(--data-dir "${HS_DATA_DIR:-$root/.data}")
fi
exec dotnet "$out/Homeserver.dll" "${args[@]}"
