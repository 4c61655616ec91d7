# pg.sh - a throwaway PostgreSQL cluster for an integration test; sourced
# after lib/wait.sh (it reserves a port number).
#
#   pg_start DIR   initdb in DIR/data and start the server, listening on a
#                  Unix socket in DIR only (no TCP port to collide with; the
#                  port number, which only names the socket, is reserved all
#                  the same), trusting local connections, fsync off (it is
#                  thrown away; what the tests kill is a client, never the
#                  machine). Sets pg_conninfo ("host=DIR port=N user=postgres
#                  dbname=postgres"). Returns non-zero with the reason in
#                  pg_error when the binaries are missing or it does not start.
#   pg_stop        stops it (immediate), when it was started.
# PostgreSQL refuses to run as root, so when the test is root the server
# runs as the `postgres` user. PG_BIN (env) names the binaries' directory.
pg_dir=""
pg_started=""
pg_conninfo=""
pg_error=""
pg_as=""
if [ "$(id -u)" -eq 0 ]; then pg_as="runuser -u postgres --"; fi
pg_bin=${PG_BIN:-}
if [ -z "$pg_bin" ]; then
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_bin=$d; done
fi
pg_start() {
    pg_dir=$1
    if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
        pg_error="PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql"
        return 1
    fi
    mkdir -p "$pg_dir" && chmod 755 "$pg_dir" || { pg_error="mkdir $pg_dir"; return 1; }
    [ -n "$pg_as" ] && chown postgres "$pg_dir"
    if ! $pg_as "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
            >"$pg_dir/initdb.log" 2>&1; then
        pg_error="initdb failed"
        return 1
    fi
    pg_port=$(port) || { pg_error="a port number for the PostgreSQL socket"; return 1; }
    if ! $pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t "$(scaled 60)" \
            -o "-c listen_addresses='' -c unix_socket_directories='$pg_dir' -p $pg_port -c fsync=off -c max_connections=64" \
            start >/dev/null 2>&1; then
        pg_error="the PostgreSQL server did not start: $(tail -3 "$pg_dir/server.log" | tr '\n' ' ')"
        return 1
    fi
    pg_started=1
    pg_conninfo="host=$pg_dir port=$pg_port user=postgres dbname=postgres"
}
pg_stop() {
    [ -n "$pg_started" ] && $pg_as "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1
    pg_started=""
}
