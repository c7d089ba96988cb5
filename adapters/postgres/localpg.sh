#!/usr/bin/env bash
# A project-local PostgreSQL cluster for `make run`, `make test` and `make bench`
# when no database URL is configured. It installs Debian's postgresql package if
# the server binaries are missing, keeps its data under .data/pg (git-ignored),
# listens on loopback only, and works as root (the cluster then runs as the
# unprivileged `postgres` user, because initdb refuses root) and as a normal user.
#
# usage: localpg.sh up | url [database] | stop | restart | clean | status
# settings: SOCIALOPS_LOCAL_PG_PORT (default: 54329, or the next free port when
# another server holds it; the port chosen is kept beside the data folder),
# SOCIALOPS_LOCAL_PG_DIR (default <repo>/.data/pg)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
port=""
superuser=socialops
database=socialops

log() { printf 'localpg: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

find_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
			echo "$d"
			return 0
		fi
	done
	if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return 0
	fi
	return 1
}

install_postgres() {
	log "PostgreSQL server binaries not found; installing Debian's postgresql package"
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "PostgreSQL is missing and this user cannot install it: install the 'postgresql' package, or set SOCIALOPS_DATABASE_URL"
		sudo="sudo -n"
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

bindir=$(find_bindir || true)

# As root the cluster belongs to `postgres`; everything touching it runs as that user.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

datadir() {
	if [ -n "${SOCIALOPS_LOCAL_PG_DIR:-}" ]; then
		echo "$SOCIALOPS_LOCAL_PG_DIR"
		return
	fi
	local d="$here/.data/pg"
	if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
		mkdir -p "$here/.data"
		# The postgres user must reach the folder; a checkout under a private home
		# (e.g. /root) cannot be reached, so the cluster lives under /var/lib then.
		if ! runuser -u postgres -- test -x "$here/.data" 2>/dev/null; then
			chmod 755 "$here/.data" 2>/dev/null || true
		fi
		if ! runuser -u postgres -- test -x "$here/.data" 2>/dev/null; then
			d="/var/lib/socialops-localpg/$(printf '%s' "$here" | sha1sum | cut -c1-12)/pg"
		fi
	fi
	echo "$d"
}

port_file() { echo "$(datadir).port"; }

# resolve_port: the caller's port, else the one this cluster was started on, else the default.
resolve_port() {
	if [ -n "${SOCIALOPS_LOCAL_PG_PORT:-}" ]; then
		port=$SOCIALOPS_LOCAL_PG_PORT
	elif [ -f "$(port_file)" ]; then
		port=$(cat "$(port_file)")
	else
		port=54329
	fi
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

url() {
	echo "postgres://$superuser@127.0.0.1:$port/${1:-$database}?sslmode=disable"
}

running() {
	local dir=$1
	[ -f "$dir/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1
}

psql_cmd() {
	local psql="$bindir/psql"
	[ -x "$psql" ] || psql=$(command -v psql)
	"$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$superuser" "$@"
}

up() {
	if [ -z "$bindir" ]; then
		install_postgres
		bindir=$(find_bindir) || die "postgresql installed but its binaries were not found"
	fi
	local dir
	dir=$(datadir)
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' user (created by Debian's postgresql package)"
		mkdir -p "$dir"
		chown postgres "$dir"
		chmod 700 "$dir"
	else
		mkdir -p "$dir"
		chmod 700 "$dir"
	fi
	if [ ! -f "$dir/PG_VERSION" ]; then
		log "creating a cluster in $dir"
		local locale_opt="--locale=C.UTF-8"
		locale -a 2>/dev/null | grep -qi '^c\.utf-\?8$' || locale_opt="--no-locale"
		as_owner "$bindir/initdb" -D "$dir" -U "$superuser" --auth=trust -E UTF8 $locale_opt >/dev/null
		cat >>"$dir/postgresql.conf" <<-EOF
			# socialops local cluster
			listen_addresses = '127.0.0.1'
			unix_socket_directories = ''
			max_connections = 300
			shared_buffers = 256MB
			log_min_messages = warning
		EOF
	fi
	if ! running "$dir"; then
		if port_busy "$port"; then
			[ -z "${SOCIALOPS_LOCAL_PG_PORT:-}" ] || die "port $port is taken by another server; set SOCIALOPS_LOCAL_PG_PORT to a free port"
			local p=$port
			while port_busy "$p"; do
				p=$((p + 1))
				[ "$p" -lt $((port + 50)) ] || die "no free port from $port on; set SOCIALOPS_LOCAL_PG_PORT"
			done
			log "port $port is taken by another server; using $p"
			port=$p
		fi
		# A port found free can be taken before the server binds it (another
		# program's ephemeral port): then try the next free ones, unless the
		# port was asked for.
		local tries=0
		while :; do
			log "starting PostgreSQL on 127.0.0.1:$port"
			if as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null; then
				break
			fi
			tries=$((tries + 1))
			if [ -n "${SOCIALOPS_LOCAL_PG_PORT:-}" ] || [ "$tries" -ge 5 ] || ! tail -n 5 "$dir/server.log" 2>/dev/null | grep -q "Address already in use"; then
				tail -n 20 "$dir/server.log" >&2 || true
				die "PostgreSQL did not start"
			fi
			port=$((port + 1))
			while port_busy "$port"; do port=$((port + 1)); done
			log "the port was taken meanwhile; trying $port"
		done
		echo "$port" >"$(port_file)"
	fi
	if [ "$(psql_cmd -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$database'")" != "1" ]; then
		psql_cmd -d postgres -c "CREATE DATABASE $database" >/dev/null
	fi
}

resolve_port
case "${1:-}" in
up) up ;;
url) url "${2:-}" ;;
status)
	if [ -n "$bindir" ] && running "$(datadir)"; then echo "running on 127.0.0.1:$port ($(datadir))"; else echo "stopped"; exit 1; fi
	;;
stop)
	dir=$(datadir)
	if [ -n "$bindir" ] && running "$dir"; then as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null && log "stopped"; else log "not running"; fi
	;;
restart)
	# A fast stop (open connections are cut, as in a database failover), then up.
	dir=$(datadir)
	if [ -n "$bindir" ] && running "$dir"; then as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null && log "stopped"; else log "not running"; fi
	up
	;;
crash)
	# An immediate stop (no shutdown checkpoint: what the disk does not hold
	# is gone, as in a power cut or a killed server; start replays the WAL), then up.
	dir=$(datadir)
	if [ -n "$bindir" ] && running "$dir"; then as_owner "$bindir/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null && log "stopped (immediate)"; else log "not running"; fi
	up
	;;
clean)
	dir=$(datadir)
	if [ -n "$bindir" ] && running "$dir"; then as_owner "$bindir/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null || true; fi
	rm -rf "$dir"
	log "removed $dir"
	;;
*)
	echo "usage: $0 up | url [database] | stop | restart | crash | clean | status" >&2
	exit 2
	;;
esac
