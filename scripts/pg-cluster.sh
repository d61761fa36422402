#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for tests of the PostgreSQL store.
#
#   scripts/pg-cluster.sh start DIR [PORT]   # prints postgres://postgres@127.0.0.1:PORT/flowengine
#   scripts/pg-cluster.sh stop DIR           # fast shutdown; safe to call twice
#
# `start` makes a new cluster in DIR/data (initdb, superuser `postgres`, trust authentication
# for the unix socket and 127.0.0.1 only), listening on 127.0.0.1 only, on PORT or a free port,
# with its unix socket in DIR/run, fsync on (the default), max_connections 200; it starts it,
# creates the database `flowengine` and prints exactly one line on standard output: the URL.
# Everything else goes to standard error; the server's log is DIR/postgres.log.
#
# PostgreSQL refuses to run as root: run as root (as CI does), the cluster belongs to the
# `postgres` system user that Debian's `postgresql` package creates, DIR is handed to it and
# initdb/pg_ctl run through `runuser -u postgres --`. Run as another user, they run as that
# user. The binaries are found under /usr/lib/postgresql/*/bin (Debian's layout; the newest
# version wins), or in PG_BIN if set. Without them: exit 2, `apt-get install postgresql`.
#
# Exit status: 0 done; 2 PostgreSQL is not installed; 64 a usage mistake; 1 anything else.
set -euo pipefail

say() { printf 'pg-cluster: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
usage() {
  echo "usage: $0 start DIR [PORT] | stop DIR" >&2
  exit 64
}

[ $# -ge 2 ] || usage
command=$1

# The server must not keep open what this script was handed beyond stdin, stdout and stderr:
# a test process that starts it while running others hands it their pipes, and a pipe a
# daemon holds never reaches its end (whoever reads it waits forever).
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  case $fd in 0 | 1 | 2) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done
dir=$2
[ -n "$dir" ] || usage

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    [ -x "$PG_BIN/pg_ctl" ] && { echo "$PG_BIN"; return 0; }
    return 1
  fi
  local best="" candidate
  # Newest major version first (sort -V: 9.6 < 10 < 15 < 16).
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/postgres" ]; then
      best=$candidate
    fi
  done
  [ -n "$best" ] && { echo "$best"; return 0; }
  return 1
}

if ! bin=$(find_bin); then
  say "PostgreSQL is not installed (no initdb/pg_ctl under /usr/lib/postgresql/*/bin)."
  say "Install it with: apt-get install postgresql   (Debian; the server binaries and psql)"
  exit 2
fi

# Who runs the server: the postgres system user when we are root, else ourselves.
as_owner=()
if [ "$(id -u)" = 0 ]; then
  id -u postgres >/dev/null 2>&1 ||
    die "running as root, but there is no 'postgres' user to run the server (apt-get install postgresql creates it)"
  command -v runuser >/dev/null 2>&1 || die "running as root, but runuser is missing (util-linux)"
  as_owner=(runuser -u postgres --)
fi
run_owner() { "${as_owner[@]}" "$@"; }

case "$command" in
start)
  [ $# -le 3 ] || usage
  port=${3:-}
  if [ -n "$port" ] && ! [[ "$port" =~ ^[0-9]+$ && "$port" -ge 1 && "$port" -le 65535 ]]; then
    die "PORT must be a number from 1 to 65535, not '$port'"
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  data=$dir/data
  sockets=$dir/run
  log=$dir/postgres.log
  [ ! -e "$data" ] || die "$data already exists: stop it and use a new DIR"
  # A unix socket path is at most 107 bytes (.s.PGSQL.PORT is 13 more).
  [ ${#sockets} -le 90 ] || die "DIR is too long for a unix socket path: $sockets"
  mkdir -p "$sockets"
  if [ ${#as_owner[@]} -gt 0 ]; then
    chown -R postgres: "$dir"
    chmod 700 "$dir"
    run_owner test -w "$dir" ||
      die "the postgres user cannot write $dir: a parent folder is closed to it (make DIR under /tmp, e.g. mktemp -d)"
  fi
  # Commands run from DIR: root's cwd may be closed to the postgres user.
  cd "$dir"

  say "initdb ($bin) in $data"
  run_owner "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C >&2 ||
    die "initdb failed"
  # Trust on the socket and on 127.0.0.1 only: nothing else may connect.
  run_owner tee "$data/pg_hba.conf" >/dev/null <<'EOF'
# pg-cluster.sh: a throwaway cluster; trust for local connections only.
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
EOF

  free_port() {
    # A port nothing on 127.0.0.1 listens on (bash's /dev/tcp: no other tool needed).
    local candidate tries=0
    while [ $tries -lt 200 ]; do
      candidate=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
        echo "$candidate"
        return 0
      fi
      tries=$((tries + 1))
    done
    return 1
  }

  attempts=1
  [ -n "$port" ] || attempts=5
  started=""
  for _ in $(seq 1 "$attempts"); do
    chosen=${port:-$(free_port)} || die "no free port found"
    run_owner tee "$data/postgresql.auto.conf" >/dev/null <<EOF
# pg-cluster.sh
listen_addresses = '127.0.0.1'
port = $chosen
unix_socket_directories = '$sockets'
max_connections = 200
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_line_prefix = '%m [%p] %a: '
log_connections = off
EOF
    say "starting on 127.0.0.1:$chosen (log $log)"
    if run_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >&2; then
      started=$chosen
      break
    fi
    # Someone took the port between the probe and the start: try another one.
    tail -n 5 "$log" >&2 2>/dev/null || true
    [ -z "$port" ] || break
  done
  [ -n "$started" ] || die "the server did not start (see $log)"

  run_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sockets" -p "$started" -U postgres -d postgres \
    -c "CREATE DATABASE flowengine" >&2 ||
    die "could not create the database flowengine (see $log)"
  echo "postgres://postgres@127.0.0.1:$started/flowengine"
  ;;

stop)
  [ $# -eq 2 ] || usage
  if [ ! -d "$dir/data" ]; then
    say "no cluster in $dir: nothing to stop"
    exit 0
  fi
  dir=$(cd "$dir" && pwd -P)
  cd "$dir"
  if run_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    say "stopping the cluster in $dir"
    run_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2 ||
      die "pg_ctl stop failed (see $dir/postgres.log)"
  else
    say "the cluster in $dir is not running"
  fi
  ;;

*)
  usage
  ;;
esac
