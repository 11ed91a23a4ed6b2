#!/bin/sh
# The synchronous standby: on first start, a base backup of the primary (-R writes
# primary_conninfo and standby.signal; -C -S a replication slot so the primary keeps the
# WAL the standby still needs); then a hot standby. Its cluster_name, db_standby, is the
# application_name the primary's synchronous_standby_names waits for.
set -eu
PGPASSWORD="$(cat /run/secrets/postgres_password)"
export PGPASSWORD
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h db-primary -U sammen -d sammen; do sleep 1; done
  pg_basebackup -h db-primary -U sammen -D "$PGDATA" -R -X stream -C -S db_standby --checkpoint=fast
  chmod 0700 "$PGDATA"
fi
exec postgres -c cluster_name=db_standby -c hot_standby=on
