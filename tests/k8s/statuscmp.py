# SPDX-License-Identifier: GPL-2.0-only
# Compare the status an agent wrote to the stand-in API server with the
# reference (`snigate check -o json` of the same objects): shared by the
# Kubernetes stand-in tests (64, 67).
import json

CTRL = "snigate.io/gateway-controller"


def strip(x):
    """x without lastTransitionTime (set at write time, not compared)."""
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k != "lastTransitionTime"}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x


def key(o):
    m = o["metadata"]
    return (o["kind"], m.get("namespace", "default") if o["kind"] != "GatewayClass" else "", m["name"])


def compare(ref, dump, each=None):
    """Assert that every Gateway, TLSRoute and GatewayClass of ours in the
    stand-in's @dump has the status of @ref (TLSRoutes: our parent entries
    only); calls each(key, live_object) for every object compared. Returns
    (objects compared, {key: live object})."""
    live = {key(o): o for o in dump["items"]}
    checked = 0
    for it in ref["items"]:
        k = key(it)
        if k[0] not in ("Gateway", "TLSRoute", "GatewayClass") or k not in live:
            continue
        lo = live[k]
        if k[0] == "Gateway" and lo["spec"]["gatewayClassName"] != "snigate":
            continue
        if k[0] == "GatewayClass" and lo["spec"]["controllerName"] != CTRL:
            continue
        want, got = strip(it.get("status", {})), strip(lo.get("status", {}))
        if k[0] == "TLSRoute":
            want = [p for p in want.get("parents", []) if p.get("controllerName") == CTRL]
            got = [p for p in got.get("parents", []) if p.get("controllerName") == CTRL]
        assert want == got, "%s: written %s\n  expected %s" % (k, json.dumps(got), json.dumps(want))
        if each:
            each(k, lo)
        checked += 1
    assert checked >= 4, "only %d objects compared" % checked
    return checked, live
