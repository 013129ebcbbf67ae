#!/bin/sh
# Waits for the Temporal frontend, then creates keyrotor's namespace and
# registers keyrotor's search attributes on it (all Keyword; the names are
# internal/contract's SearchAttributeNames, which the tests in deploy/ check).
# Safe to run again: what exists is left alone.
#
# Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, NAMESPACE_RETENTION
# (default 30d), WAIT_ATTEMPTS (default 60) and WAIT_SECONDS (default 2)
# between tries.
set -eu

: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS to the frontend host:port}"
: "${TEMPORAL_NAMESPACE:?set TEMPORAL_NAMESPACE to keyrotor's namespace}"
retention=${NAMESPACE_RETENTION:-30d}
attempts=${WAIT_ATTEMPTS:-60}
pause=${WAIT_SECONDS:-2}
search_attributes="KeyrotorUser KeyrotorAccount KeyrotorPhase"

# retry runs a command until it succeeds, at most $attempts times.
retry() {
	n=1
	until "$@"; do
		if [ "$n" -ge "$attempts" ]; then
			echo "gave up after $attempts attempts: $*" >&2
			return 1
		fi
		n=$((n + 1))
		sleep "$pause"
	done
}

t() {
	temporal "$@" --address "$TEMPORAL_ADDRESS"
}

echo "waiting for the Temporal frontend at $TEMPORAL_ADDRESS"
retry t operator cluster health >/dev/null

if t operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
	echo "namespace $TEMPORAL_NAMESPACE already exists"
else
	retry t operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention "$retention"
	echo "namespace $TEMPORAL_NAMESPACE created (retention $retention)"
fi

# A namespace just created takes a few seconds to reach every frontend
# cache, so listing is retried too.
existing=$(retry t operator search-attribute list --namespace "$TEMPORAL_NAMESPACE")
for name in $search_attributes; do
	if printf '%s\n' "$existing" | grep -qw "$name"; then
		echo "search attribute $name already exists"
		continue
	fi
	retry t operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type Keyword
	echo "search attribute $name created"
done
