#!/usr/bin/env bash
# Start a PostgreSQL server for NovaCron's store tests / CI and print its URL on stdout.
# Idempotent: installs the Debian package if missing, starts the cluster if stopped, creates
# (or re-passwords) the role (LOGIN CREATEDB, so tests may make scratch databases) and the database. No systemd needed. Must run as root.
#
# Usage: .ci/postgres.sh [start|stop]        (default: start; progress goes to stderr)
# Env:
#   NOVACRON_PG_DIR       set: a private throw-away cluster (initdb) in this folder, fsync off,
#                         socket inside it -- what the test fixture uses so parallel runs never
#                         share or stop each other's server. Unset: Debian's "<version> main".
#   NOVACRON_PG_PORT      port of the private cluster (default 5432; Debian mode uses the
#                         cluster's configured port)
#   NOVACRON_PG_USER / NOVACRON_PG_PASSWORD / NOVACRON_PG_DB   (novacron / novacron / novacron_test)
set -euo pipefail

action="${1:-start}"
pg_user="${NOVACRON_PG_USER:-novacron}"
pg_password="${NOVACRON_PG_PASSWORD:-novacron}"
pg_db="${NOVACRON_PG_DB:-novacron_test}"
private_dir="${NOVACRON_PG_DIR:-}"

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$action" == start || "$action" == stop ]] || die "unknown action '$action' (use start or stop)"
[[ "$(id -u)" == 0 ]] || die "must run as root (installs packages and runs the server as user postgres)"
[[ "$pg_user" =~ ^[a-z_][a-z0-9_]*$ ]] || die "NOVACRON_PG_USER '$pg_user' is not a plain identifier"
[[ "$pg_db" =~ ^[a-z_][a-z0-9_]*$ ]] || die "NOVACRON_PG_DB '$pg_db' is not a plain identifier"
[[ "$pg_password" =~ ^[A-Za-z0-9_.@%+-]+$ ]] || die "NOVACRON_PG_PASSWORD must be URL- and SQL-safe ([A-Za-z0-9_.@%+-])"

ensure_package() {
  if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    [[ "$action" == stop ]] && die "PostgreSQL is not installed; nothing to stop"
    log "installing the postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  fi
  pg_version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
  pg_bin="/usr/lib/postgresql/$pg_version/bin"
}

as_postgres() { runuser -u postgres -- "$@"; }

# --- private cluster in $NOVACRON_PG_DIR ----------------------------------------------------
private_start() {
  pg_port="${NOVACRON_PG_PORT:-5432}"
  local data="$private_dir/data" run="$private_dir/run"
  mkdir -p "$private_dir" "$run"
  chown postgres:postgres "$private_dir" "$run"
  chmod 700 "$private_dir"
  if [[ ! -f "$data/PG_VERSION" ]]; then
    log "initdb $data (PostgreSQL $pg_version)"
    as_postgres "$pg_bin/initdb" -D "$data" -U postgres -E UTF8 --no-locale --no-sync \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  if ! as_postgres "$pg_bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "starting private cluster on 127.0.0.1:$pg_port"
    as_postgres "$pg_bin/pg_ctl" -D "$data" -l "$private_dir/server.log" -w -t 60 \
      -o "-p $pg_port -k $run -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || { cat "$private_dir/server.log" >&2; die "server did not start"; }
  fi
  psql_cmd=(as_postgres "$pg_bin/psql" -h "$run" -p "$pg_port" -U postgres)
}

private_stop() {
  if [[ -f "$private_dir/data/PG_VERSION" ]] \
    && as_postgres "$pg_bin/pg_ctl" -D "$private_dir/data" status >/dev/null 2>&1; then
    log "stopping private cluster in $private_dir"
    as_postgres "$pg_bin/pg_ctl" -D "$private_dir/data" -m fast -w stop >/dev/null
  fi
}

# --- Debian's "<version> main" cluster --------------------------------------------------------
debian_cluster_line() { pg_lsclusters -h 2>/dev/null | awk -v v="$pg_version" '$1 == v && $2 == "main"'; }

debian_start() {
  if [[ -z "$(debian_cluster_line)" ]]; then
    log "creating cluster $pg_version main"
    pg_createcluster --encoding UTF8 --locale C.UTF-8 "$pg_version" main >&2
  fi
  if [[ "$(debian_cluster_line | awk '{print $4}')" != online ]]; then
    log "starting cluster $pg_version main"
    pg_ctlcluster "$pg_version" main start >&2
  fi
  pg_port="$(debian_cluster_line | awk '{print $3}')"
  psql_cmd=(as_postgres "$pg_bin/psql" -p "$pg_port")
}

debian_stop() {
  if [[ "$(debian_cluster_line | awk '{print $4}')" == online ]]; then
    log "stopping cluster $pg_version main"
    pg_ctlcluster "$pg_version" main stop >&2
  fi
}

# --- role and database -------------------------------------------------------------------------
ensure_role_and_db() {
  local i
  for i in $(seq 1 60); do
    "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break
    [[ $i == 60 ]] && die "server on 127.0.0.1:$pg_port not ready after 30 s"
    sleep 0.5
  done
  "${psql_cmd[@]}" -v ON_ERROR_STOP=1 -qAt -d postgres >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$pg_user') THEN
    CREATE ROLE $pg_user LOGIN CREATEDB PASSWORD '$pg_password';
  ELSE
    ALTER ROLE $pg_user LOGIN CREATEDB PASSWORD '$pg_password';
  END IF;
END \$\$;
SQL
  if [[ -z "$("${psql_cmd[@]}" -qAt -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$pg_db'")" ]]; then
    log "creating database $pg_db"
    "${psql_cmd[@]}" -v ON_ERROR_STOP=1 -q -d postgres -c \
      "CREATE DATABASE $pg_db OWNER $pg_user ENCODING 'UTF8' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'" >/dev/null
  fi
}

ensure_package
if [[ -n "$private_dir" ]]; then
  [[ "$private_dir" == /* ]] || die "NOVACRON_PG_DIR must be an absolute path, got '$private_dir'"
  mode=private
else
  mode=debian
fi

if [[ "$action" == stop ]]; then
  "${mode}_stop"
  exit 0
fi
"${mode}_start"
ensure_role_and_db
echo "postgresql://$pg_user:$pg_password@127.0.0.1:$pg_port/$pg_db"
