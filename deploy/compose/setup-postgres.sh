#!/bin/sh
# Creates Temporal's two PostgreSQL databases (temporal, temporal_visibility)
# and brings their schemas up to the version this admin-tools image ships:
# the temporal-sql-tool steps of Temporal's own compose setup (create,
# setup-schema -v 0.0, update-schema). Safe to run again on a database that
# is already set up: an existing database is kept, setup-schema leaves a
# newer schema alone and update-schema only applies what is missing.
#
# Environment: POSTGRES_SEEDS (host), POSTGRES_USER, SQL_PASSWORD (read by
# temporal-sql-tool itself), DB_PORT (default 5432).
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS to the PostgreSQL host}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${SQL_PASSWORD:?set SQL_PASSWORD (the PostgreSQL password; deploy/compose/init-secrets.sh writes it)}"
port=${DB_PORT:-5432}
schema_dir=${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}

sql() {
	temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$port" "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
	db=${pair%%:*}
	dir=${pair#*:}
	if out=$(sql --db "$db" create 2>&1); then
		echo "database $db created"
	else
		case $out in
		*"already exists"*) echo "database $db already exists" ;;
		*)
			printf '%s\n' "$out" >&2
			exit 1
			;;
		esac
	fi
	sql --db "$db" setup-schema -v 0.0
	sql --db "$db" update-schema -d "$schema_dir/$dir/versioned"
done
echo "PostgreSQL schema ready"
