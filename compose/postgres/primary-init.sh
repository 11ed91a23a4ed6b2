#!/bin/sh
# Runs once, when the official image initialises the primary's data directory: lets the
# standby connect for replication (pg_basebackup and streaming) with a password.
set -eu
echo "host replication sammen all scram-sha-256" >> "$PGDATA/pg_hba.conf"
