#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# `snigate dump routes` against the compiled policy: the agent serves
# tests/priv/5x-manifests (exact, wildcard and no-hostname listeners,
# weighted, invalid and endpoint-less backends); every entry the dump reads
# from the pinned maps must give the same decision as `snigate check --sni`
# on the same manifests (listener mode, reject or the weighted backends with
# their endpoints), and the entry count must equal the compiler's.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/5x-lib.inc"
command -v python3 >/dev/null || skip "no python3"
ops_setup dump
ops_agent sockmap
"$SNIGATE" dump routes --pin-dir "$PIN" -o json >"$TMP/dump.json" || fail "dump routes failed"
"$SNIGATE" dump routes --pin-dir "$PIN" >"$TMP/dump.txt" || fail "dump routes (text) failed"
"$SNIGATE" check -f "$MANIFESTS" -o text >"$TMP/check.txt" 2>/dev/null || fail "check -o text"
want=$("$SNIGATE" check -f "$MANIFESTS" --stats 2>&1 >/dev/null | sed -n 's/^stats: \([0-9]*\) entries.*/\1/p')
got=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["entries"]))' "$TMP/dump.json")
[ -n "$want" ] && [ "$got" = "$want" ] || fail "dump has $got entries, the compiler made $want"
ok "dump routes: $got entries = compiled entries"
grep -q "^serial 1, active generation 0, $got entries" "$TMP/dump.txt" || fail "text header: $(head -1 "$TMP/dump.txt")"

# One probe SNI per entry, then one `check --sni` run with all of them.
python3 - "$TMP/dump.json" "$TMP/check.txt" >"$TMP/probes" <<'PY' || fail "probe list"
import json, re, sys
d = json.load(open(sys.argv[1]))
ports = {int(m.group(1)): m.group(3) for m in
         re.finditer(r"^  bind (\d+): (\S+) port (\d+)", open(sys.argv[2]).read(), re.M)}
for e in d["entries"]:
    h = e["hostname"]
    q = h if not h.startswith("*") and h != "(any)" else \
        ("zzprobe" + h[1:] if h.startswith("*") else "zzprobe.nomatch-tld")
    print(ports[e["bind"]], q)
PY
args=()
while read -r port q; do args+=(--sni "$port:$q"); done <"$TMP/probes"
"$SNIGATE" check -f "$MANIFESTS" "${args[@]}" >"$TMP/sni.txt" 2>/dev/null || fail "check --sni"
python3 - "$TMP/dump.json" "$TMP/probes" "$TMP/sni.txt" <<'PY' || fail "dump and check disagree (above)"
import json, re, sys
d = json.load(open(sys.argv[1]))
probes = [l.split() for l in open(sys.argv[2])]
lines = open(sys.argv[3]).read().splitlines()
bad = 0
for e, (port, q), line in zip(d["entries"], probes, lines):
    assert line.startswith("sni %s %s " % (port, q)), (line, q)
    mode = "terminate" if e["mode"] == "Terminate" else "passthrough"
    if "(%s)" % mode not in line:
        print("mode differs:", e, line); bad += 1
    if e["action"] == "reject":
        want = "reject"
    else:
        want = []
        for m in e["backends"]:
            if "target" not in m:
                want.append("%d:invalid" % m["weight"])
            else:
                eps = m["target"]["endpoints"]
                want.append("%d:%s" % (m["weight"], ",".join(eps) if eps else "none"))
    if line.endswith("rejected (no route)"):
        got = "reject"
    else:
        got = []
        for g in re.findall(r"\[([^\]]*)\]", line):
            if g.startswith("invalid"):
                got.append("%s:invalid" % re.search(r"weight (\d+)", g).group(1))
                continue
            w, rest = re.match(r"\S+ weight (\d+):(.*)$", g).groups()
            eps = [x for x in rest.split() if x not in ("no", "endpoint", "(re-encrypt)")]
            got.append("%s:%s" % (w, ",".join(eps) if eps else "none"))
    if got != want:
        print("entry %s %s: dump %s, check %s" % (e["hostname"], e["bind"], want, got)); bad += 1
    else:
        print("ok: %-20s bind %d: %s" % (e["hostname"], e["bind"], want))
sys.exit(1 if bad else 0)
PY
ok "every dumped entry decides like snigate check"
"$SNIGATE" dump stats --pin-dir "$PIN" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert set(d)=={"listeners","routes"}, d' ||
	fail "dump stats is not the listeners/routes JSON"
"$SNIGATE" dump conns --pin-dir "$PIN" | grep -q "^0 spliced sockets" || fail "dump conns: $("$SNIGATE" dump conns --pin-dir "$PIN" | head -1)"
"$SNIGATE" dump routes --pin-dir "$TMP/nowhere" >/dev/null 2>"$TMP/err" && fail "dump of a missing pin dir succeeded"
grep -q "is snigate running with this --pin-dir" "$TMP/err" || fail "missing pin dir: $(cat "$TMP/err")"
ok "dump stats/conns readable; a missing pin dir is a clear error"
ops_agent_stop
echo PASS
