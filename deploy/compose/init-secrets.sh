#!/bin/sh
# Makes the secrets docker-compose.yml reads, in deploy/compose/secrets/ (or
# the directory given as the only argument), and never overwrites one: a
# replaced payload key would make every payload encrypted with it unreadable.
#
#   codec.key            payload encryption key (worker and codec server)
#   codec-server.token   the codec server's access token
#   ui.env               TEMPORAL_CODEC_ENDPOINT for the Web UI (holds the token)
#   postgres.env         the PostgreSQL password, under the three names that
#                        postgres, temporal-sql-tool and the Temporal server read
#   keyrotor.env         provider tokens and AWS credentials for the worker:
#                        a copy of keyrotor.env.example, to fill in
#
# The directory is private to you (0700). The env files are 0600 (Compose
# reads them as you); codec.key and codec-server.token are 0644 because
# Compose mounts them into the containers as they are, and the keyrotor
# containers run as uid 65532, not as you.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-$here/secrets}

umask 077
mkdir -p "$dir"
chmod 700 "$dir"

random_hex() {
	head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n'
}

# put NAME MODE: writes standard input to $dir/NAME unless that file exists.
put() {
	if [ -e "$dir/$1" ]; then
		echo "kept    $dir/$1"
		cat >/dev/null
		return
	fi
	cat >"$dir/$1.tmp"
	chmod "$2" "$dir/$1.tmp"
	mv "$dir/$1.tmp" "$dir/$1"
	echo "created $dir/$1"
}

head -c 32 /dev/urandom | base64 | put codec.key 644
random_hex | put codec-server.token 644
printf 'TEMPORAL_CODEC_ENDPOINT=http://localhost:8081/%s\n' "$(cat "$dir/codec-server.token")" | put ui.env 600
password=$(random_hex)
printf 'POSTGRES_PASSWORD=%s\nPOSTGRES_PWD=%s\nSQL_PASSWORD=%s\n' "$password" "$password" "$password" | put postgres.env 600
put keyrotor.env 600 <"$here/keyrotor.env.example"

if [ ! -e "$here/keyrotor.yaml" ]; then
	echo "next: cp examples/keyrotor.yaml deploy/compose/keyrotor.yaml and edit it"
fi
echo "next: fill in $dir/keyrotor.env"
