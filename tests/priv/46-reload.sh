#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Manifests reloaded under load: long checksummed transfers on both
# passthrough engines while the manifests change (a route added, the flaky
# route's endpoints changed) and the agent is told to reload (SIGHUP, the
# conventional signal; skipped while `snigate run --help` documents no
# reload; the test assumes SIGHUP once --help mentions a reload). No established connection may be dropped or corrupted, the new
# route must be served after the reload, the old ones still.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/4x-lib.inc"
rel_require
"$SNIGATE" run --help 2>&1 | grep -qi 'reload' ||
	skip "snigate run has no manifest reload yet (no 'reload' in snigate run --help; SIGHUP only reopens the access log): reload-under-load untestable"
rel_setup reload
rel_backends
rel_agent
RELOADS=${RELOADS:-5}
live=()
for port in 443 444; do
	for ((i = 0; i < 3; i++)); do
		ip netns exec "$NS" "$XFER" client "127.0.0.1:$port" --hello "$HELLO" --bytes 256m \
			--read-rate 32m --timeout 60 >"$TMP/live-$port-$i.json" 2>&1 &
		live+=("$!")
		at_exit "kill -9 $!"
	done
done
sleep 1
for ((r = 1; r <= RELOADS; r++)); do
	# alternate between adding and removing a route
	if [ $((r % 2)) -eq 1 ]; then
		cat >"$MAN/extra.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: {name: extra-route}
spec:
  parentRefs: [{name: rel-gw, sectionName: pt-sockmap}, {name: rel-gw, sectionName: pt-user}]
  hostnames: [extra.example.com]
  rules: [{backendRefs: [{name: xfer-svc, port: 443}]}]
YAML
	else
		rm -f "$MAN/extra.yaml"
	fi
	kill -HUP "$AGENT_PID"
	sleep 0.5
	rel_agent_alive "reload $r"
	if [ -e "$MAN/extra.yaml" ]; then
		"$SNIGATE" dump routes --pin-dir "$PIN" | grep -q extra.example.com ||
			fail "reload $r: extra.example.com not in the routes after SIGHUP"
	else
		"$SNIGATE" dump routes --pin-dir "$PIN" | grep -q extra.example.com &&
			fail "reload $r: extra.example.com still routed after its removal"
	fi
	j=$(ip netns exec "$NS" "$XFER" client 127.0.0.1:443 --hello "$HELLO" --bytes 1m --timeout 5)
	echo "$j" | grep -q '"verdict":"ok"' || fail "reload $r: new connection after reload: $j"
	ok "reload $r: routes updated, new connections served"
done
for p in "${live[@]}"; do wait "$p"; done
bad=0
for f in "$TMP"/live-*.json; do
	grep -q '"verdict":"ok"' "$f" || { echo "$(basename "$f"): $(cat "$f")"; bad=1; }
done
[ $bad -eq 0 ] || fail "an established connection was dropped or corrupted by a reload"
ok "6 transfers of 256 MiB across $RELOADS reloads: byte-exact"
echo PASS
