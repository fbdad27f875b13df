#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Turns the raw runs of tests/bench/run.sh into results.json, table.md, and the
# gnuplot data + script of ratios.png. Medians over repetitions; nothing typed in.
import argparse
import json
import os
import statistics
import time

PT_ORDER = ["direct", "snigate-sockmap", "snigate-userspace", "haproxy", "nginx", "sniproxy"]
TERM_ORDER = ["snigate-tls", "nginx-tls"]
GIB = float(1 << 30)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, nd=1):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fr(v):
    return "-" if v is None else f"{v:.2f}x"


def load_jsonl(path):
    out = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    return out


def cpu_total(res):
    c = res.get("cpu", {})
    return sum(c.get(k, 0.0) for k in ("load_s", "proxy_s", "backend_s", "kthreads_s"))


def main():
    ap = argparse.ArgumentParser()
    for a in ("raw", "notes", "unavail", "out", "mode", "machine", "versions", "config"):
        ap.add_argument("--" + a, default="")
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=0)
    args = ap.parse_args()

    runs = load_jsonl(args.raw)
    notes = load_jsonl(args.notes)
    unavail = {u["path"]: u["reason"] for u in load_jsonl(args.unavail)}
    nproc = os.cpu_count() or 1

    def ok(phase, path, test):
        return [r["result"] for r in runs
                if r["phase"] == phase and r["path"] == path and r["test"] == test and r["ok"]]

    def failed(phase, path, test):
        return [r.get("error", "") for r in runs
                if r["phase"] == phase and r["path"] == path and r["test"] == test and not r["ok"]]

    tests = sorted({r["test"] for r in runs if r["phase"] == "pt"})
    conn_tests = sorted([t for t in tests if t.startswith("conn-")], key=lambda t: int(t[5:]))
    bulk_tests = ["bulk-up-1", "bulk-down-1", "bulk-up-8", "bulk-down-8"]

    # ---- medians -------------------------------------------------------------------------
    M = {}  # path -> metric -> median
    for p in PT_ORDER:
        m = {}
        for t in bulk_tests:
            rs = ok("pt", p, t)
            m[t] = med([r["gbit_s"] for r in rs])
            if t.endswith("-1"):
                m["cpu-" + t] = med([cpu_total(r) / (r["bytes"] / GIB) for r in rs if r["bytes"]])
                m["proxycpu-" + t] = med([(r["cpu"]["proxy_s"] + r["cpu"]["kthreads_s"]) / (r["bytes"] / GIB)
                                          for r in rs if r["bytes"]])
                m["sys-" + t] = med([r["cpu"]["system_s"] / (r["bytes"] / GIB) for r in rs if r["bytes"]])
        rs = ok("pt", p, "rr")
        m["rr-p50"] = med([r["p50_us"] for r in rs])
        m["rr-p99"] = med([r["p99_us"] for r in rs])
        for t in conn_tests:
            rs = ok("pt", p, t)
            m[t] = med([r["conn_s"] for r in rs])
            m[t + "-errors"] = sum(r["errors"] for r in rs) if rs else None
        rs = ok("idle", p, "idle")
        if rs and rs[0]["held"]:
            r = rs[0]
            n = r["held"]
            m["mem-rss"] = (r["rss_kb_after"] - r["rss_kb_before"]) * 1024.0 / n
            m["mem-kern"] = ((r["skmem_after"] - r["skmem_before"]) +
                             (r["sockets_after"] - r["sockets_before"]) * r["slab_per_socket"] +
                             r.get("psock_entries", 0) * r.get("psock_bytes", 0)) / n
            m["mem-psock-entries"] = r.get("psock_entries", 0)
            m["mem-total"] = m["mem-rss"] + m["mem-kern"]
            m["mem-held"] = n
            m["mem-sockets"] = (r["sockets_after"] - r["sockets_before"]) / n
        M[p] = m
    T = {}
    for p in TERM_ORDER:
        m = {}
        for t in ("full-ec", "full-rsa", "resume-ec"):
            rs = ok("term", p, t)
            m[t] = med([r["hs_s"] for r in rs])
            if t == "resume-ec" and rs:
                m["resume-frac"] = sum(r["reused"] for r in rs) / max(1, sum(r["conns"] for r in rs))
        for t in ("tls-down", "tls-up"):
            m[t] = med([r["gbit_s"] for r in ok("term", p, t)])
        # the proxy's own CPU per handshake (µs) and per GiB (s): what the proxy
        # controls, where the rates above are mostly the load generator's
        for t in ("full-ec", "full-rsa", "resume-ec"):
            key = "reused" if t == "resume-ec" else "conns"
            m["cpu-" + t] = med([r["cpu"]["proxy_s"] / r[key] * 1e6 for r in ok("term", p, t)
                                 if r.get(key)])
        for t in ("tls-down", "tls-up"):
            m["cpu-" + t] = med([r["cpu"]["proxy_s"] / (r["bytes"] / 2**30) for r in ok("term", p, t)
                                 if r.get("bytes")])
        m["ciphers"] = sorted({r["cipher"] for t in ("full-ec", "full-rsa", "resume-ec", "tls-down", "tls-up")
                               for r in ok("term", p, t) if r.get("cipher")}) or None
        T[p] = m
    S = {}
    for s in ("scale-10", "scale-100k"):
        S[s] = {"conn": med([r["conn_s"] for r in ok("scale", s, "conn-32")]),
                "cpu_us": med([r["cpu"]["proxy_s"] / r["conns"] * 1e6 for r in ok("scale", s, "conn-32")
                               if r["conns"]]),
                "load": med([r["seconds"] for r in ok("scale", s, "load")])}
    compile_res = ok("scale", "bench_compile", "compile")
    reload_res = ok("reload", "snigate-sockmap", "route-change")

    def avail(p, table):
        return p not in unavail and any(v is not None for k, v in table.get(p, {}).items())

    # ---- table.md ------------------------------------------------------------------------
    L = []
    L.append("## Benchmark results")
    L.append("")
    L.append(f"Machine: {args.machine}  ")
    L.append(f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, `make bench{'-quick' if args.mode == 'quick' else ''}` "
             f"({args.mode}, medians of {args.reps} interleaved rounds, {args.seconds:.0f} s)  ")
    L.append(f"Versions: {args.versions}  ")
    L.append(f"Setup: loopback in a private network namespace; {args.config}. "
             "The machine is shared: absolute numbers carry noise from other tenants.")
    L.append("")
    L.append("### Passthrough (absolute)")
    L.append("")
    hdr = ["path", "up 1 Gbit/s", "down 1", "up 8", "down 8", "RTT p50 µs", "RTT p99 µs"]
    hdr += [f"conn/s c={t[5:]}" for t in conn_tests]
    hdr += ["CPU s/GiB up", "CPU s/GiB down", "proxy+kthreads s/GiB down", "mem/idle conn KiB"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    for p in PT_ORDER:
        if p in unavail or not avail(p, M):
            why = unavail.get(p, "no successful run")
            L.append(f"| {p} | not available: {why} |" + " |" * (len(hdr) - 2))
            continue
        m = M[p]
        row = [p] + [fmt(m[t]) for t in bulk_tests] + [fmt(m["rr-p50"]), fmt(m["rr-p99"])]
        for t in conn_tests:
            e = m.get(t + "-errors")
            row.append(fmt(m[t], 0) + (f" ({e} err)" if e else ""))
        row += [fmt(m.get("cpu-bulk-up-1"), 2), fmt(m.get("cpu-bulk-down-1"), 2),
                fmt(m.get("proxycpu-bulk-down-1"), 2)]
        row.append("-" if p == "direct" else fmt(m["mem-total"] / 1024 if m.get("mem-total") is not None else None, 1))
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("CPU s/GiB = CPU time of load generator + backend + proxy + all kernel threads "
             "(kworkers run `sk_psock_backlog`) per GiB moved, 1 stream; whole-machine "
             "`/proc/stat` figures are in results.json (`sys-*`). proxy+kthreads = the proxy's own CPU plus "
             "kernel threads only. mem/idle conn = proxy RSS growth + "
             "socket memory (skmem r+w+f+o of the proxy's sockets) + one TCP and one "
             "sock_inode_cache slab object per proxy socket (sockmap engine: + one `sk_psock` and one "
             "`sk_psock_link` per sockhash entry, counted with bpftool, sizes from BTF rounded to the "
             "kmalloc bucket), divided by the idle connections held.")
    for n in notes:
        if n["topic"] in ("idle", "rounds"):
            L.append("")
            L.append(f"Note: {n['text']}.")
    L.append("")

    ratio_cols = bulk_tests + ["rr-p50", "rr-p99"] + conn_tests + ["cpu-bulk-up-1", "cpu-bulk-down-1", "mem-total"]
    ratio_names = ["up 1", "down 1", "up 8", "down 8", "RTT p50", "RTT p99"] + \
        [f"conn/s c={t[5:]}" for t in conn_tests] + ["CPU/GiB up", "CPU/GiB down", "mem/conn"]
    for ref in ("direct", "haproxy"):
        if not avail(ref, M):
            L.append(f"(no ratios to {ref}: {unavail.get(ref, 'no run')})")
            L.append("")
            continue
        L.append(f"### Passthrough, ratio to {ref} (value / {ref}; bulk and conn/s: higher is better; "
                 "RTT, CPU, memory: lower is better)")
        L.append("")
        L.append("| path | " + " | ".join(ratio_names) + " |")
        L.append("|" + "---|" * (len(ratio_names) + 1))
        for p in PT_ORDER:
            if p == ref or not avail(p, M):
                continue
            cells = []
            for c in ratio_cols:
                if c == "mem-total" and ref == "direct":
                    cells.append("-")
                else:
                    cells.append(fr(ratio(M[p].get(c), M[ref].get(c))))
            L.append(f"| {p} | " + " | ".join(cells) + " |")
        L.append("")

    L.append("### Terminate (TLS 1.3, 16 handshakes in flight; snigate vs NGINX stream `ssl`)")
    L.append("")
    th = ["path", "full hs/s ECDSA P-256", "full hs/s RSA 2048", "resumed hs/s (ECDSA)", "TLS down Gbit/s", "TLS up Gbit/s"]
    L.append("| " + " | ".join(th) + " |")
    L.append("|" + "---|" * len(th))
    tcols = ["full-ec", "full-rsa", "resume-ec", "tls-down", "tls-up"]
    for p in TERM_ORDER:
        if p in unavail or not avail(p, T):
            L.append(f"| {p} | not available: {unavail.get(p, 'no successful run')} |" + " |" * (len(th) - 2))
            continue
        L.append(f"| {p} | " + " | ".join(fmt(T[p][c]) for c in tcols) + " |")
    if avail("snigate-tls", T) and avail("nginx-tls", T):
        L.append("| snigate / NGINX | " + " | ".join(fr(ratio(T["snigate-tls"][c], T["nginx-tls"][c])) for c in tcols) + " |")
    L.append("")
    L.append("Proxy CPU (its own threads, user + system) per handshake and per GiB; lower is better:")
    L.append("")
    ch = ["path", "µs/full hs ECDSA", "µs/full hs RSA", "µs/resumed hs", "s/GiB TLS down", "s/GiB TLS up",
          "cipher negotiated"]
    L.append("| " + " | ".join(ch) + " |")
    L.append("|" + "---|" * len(ch))
    ccols = ["cpu-" + c for c in tcols]
    for p in TERM_ORDER:
        if p in unavail or not avail(p, T):
            continue
        L.append(f"| {p} | " + " | ".join(fmt(T[p][c], 2 if "tls-" in c else 0) for c in ccols) +
                 f" | {', '.join(T[p]['ciphers'] or ['-'])} |")
    if avail("snigate-tls", T) and avail("nginx-tls", T):
        L.append("| snigate / NGINX | " + " | ".join(fr(ratio(T["snigate-tls"][c], T["nginx-tls"][c]))
                                                     for c in ccols) + " | |")
    for p in TERM_ORDER:
        f = T.get(p, {}).get("resume-frac")
        if f is not None and f < 0.99:
            L.append(f"\nNote: only {f * 100:.0f}% of {p}'s 'resumed' connections resumed; resumed hs/s counts only those.")
    L.append("")

    shapes = ("direct", "sk_skb", "sk_msg", "sk_msg_in")
    R = {sh: ok("redirect", sh, "rtt") for sh in shapes}
    if any(R.values()):
        what = {"direct": "client -> backend, plain TCP",
                "sk_skb": "via two proxy sockets, sk_skb egress redirect (the agent's engine)",
                "sk_msg": "local client's and backend's sendmsg into the far proxy socket (sk_msg egress)",
                "sk_msg_in": "local client's bytes into the backend's receive queue and back (sk_msg ingress)"}
        d50 = med([x["p50_us"] for x in R["direct"]])
        L.append("### Round trip by sockmap redirect shape")
        L.append("")
        L.append("`bench_redirect`: 64-byte ping-pong in one process on loopback, no agent, "
                 "medians over the rounds; p50 / direct is the issue-4 measure (goal <= 1.2x).")
        L.append("")
        L.append("| shape | path | p50 µs | p99 µs | p50 / direct |")
        L.append("|---|---|---|---|---|")
        for sh in shapes:
            if not R[sh]:
                err = failed("redirect", sh, "rtt")
                L.append(f"| {sh} | {what[sh]} | - | - | {err[0] if err else 'not run'} |")
                continue
            p50 = med([x["p50_us"] for x in R[sh]])
            p99 = med([x["p99_us"] for x in R[sh]])
            L.append(f"| {sh} | {what[sh]} | {fmt(p50)} | {fmt(p99)} | {fr(ratio(p50, d50))} |")
        L.append("")
    L.append("### Scale and control plane")
    L.append("")
    c10, c100 = S["scale-10"]["conn"], S["scale-100k"]["conn"]
    if c10 and c100:
        L.append(f"- conn/s (c=32, SNIs cycled over 10 names present in both tables): 10 hostnames "
                 f"{fmt(c10, 0)}, 100,000 hostnames {fmt(c100, 0)}: cost {(1 - c100 / c10) * 100:.1f}%; "
                 f"agent CPU per connection {fmt(S['scale-10']['cpu_us'], 1)} µs vs "
                 f"{fmt(S['scale-100k']['cpu_us'], 1)} µs (less sensitive to other tenants than conn/s)")
    else:
        L.append("- conn/s with 10 vs 100,000 hostnames: not measured: " +
                 (unavail.get("scale-100k") or unavail.get("scale-10") or unavail.get("snigate-sockmap")
                  or next((n["text"] for n in notes if n["topic"] == "scale"), "no run")))
    if S["scale-100k"]["load"] is not None:
        L.append(f"- `snigate run` start to first routed connection with 100,000 hostnames (compile + "
                 f"map load + listen): {S['scale-100k']['load']:.2f} s (10 hostnames: "
                 f"{fmt(S['scale-10']['load'], 2)} s)")
    if compile_res:
        r = compile_res[0]
        if "parse_ms" in r:
            L.append(f"- policy compiler alone (`bench_compile`, {r.get('hostnames', '?'):,} hostnames, best of 3): "
                     f"parse {r['parse_ms']} ms + compile {r['compile_ms']} ms = {r['total_ms']} ms")
        elif "total_ms" in r:
            L.append(f"- policy compiler alone (`bench_compile`, {r.get('hostnames', '?'):,} hostnames, best of 3): "
                     f"parse + compile {r['total_ms']} ms wall, {r.get('cpu_ms', '?')} ms CPU")
        else:
            L.append("- bench_compile: " + " / ".join(r.get("output", [])))
    for n in notes:
        if n["topic"] in ("scale", "reload"):
            L.append(f"- {n['text']}")
    if reload_res:
        L.append(f"- route change (SIGHUP with one new TLSRoute) to first connection routed by it: "
                 f"{reload_res[0]['seconds'] * 1000:.0f} ms")
    L.append("")

    # ---- goals -------------------------------------------------------------------------
    goals = []

    def goal(name, value_txt, met, why_missing=None):
        if met is None:
            goals.append((name, value_txt or "-", "NOT MEASURED" + (f" ({why_missing})" if why_missing else "")))
        else:
            goals.append((name, value_txt, "MET" if met else "NOT MET"))

    sm, hp, di = M.get("snigate-sockmap", {}), M.get("haproxy", {}), M.get("direct", {})
    us = M.get("snigate-userspace", {})
    sm_ok = avail("snigate-sockmap", M)
    sm_why = unavail.get("snigate-sockmap")
    hp_ok = avail("haproxy", M)

    def all_ratio(a, b, cols, thr, higher=True):
        rs = [ratio(a.get(c), b.get(c)) for c in cols]
        if any(r is None for r in rs):
            return None, "-"
        txt = ", ".join(f"{n} {r:.2f}x" for n, r in zip(cols, rs))
        return (all(r >= thr for r in rs) if higher else all(r < thr for r in rs)), txt

    if sm_ok and hp_ok:
        met, txt = all_ratio(sm, hp, bulk_tests, 1.4)
        goal("passthrough bulk >= 1.4x HAProxy (sockmap engine, each direction, 1 and 8 streams)", txt, met)
    else:
        goal("passthrough bulk >= 1.4x HAProxy", None, None, sm_why or "HAProxy missing")
    if sm_ok and avail("direct", M):
        r = ratio(sm.get("rr-p50"), di.get("rr-p50"))
        goal("p50 round trip <= 1.2x direct (sockmap)", f"{fmt(sm.get('rr-p50'), 1)} µs vs {fmt(di.get('rr-p50'), 1)} µs = {fr(r)}",
             None if r is None else r <= 1.2)
    else:
        goal("p50 round trip <= 1.2x direct", None, None, sm_why)
    if sm_ok and hp_ok:
        met, txt = all_ratio(sm, hp, conn_tests, 1.2)
        goal("new connections/s >= 1.2x HAProxy (every concurrency)", txt, met)
        met, txt = all_ratio(sm, hp, ["cpu-bulk-up-1", "cpu-bulk-down-1"], 1.0, higher=False)
        goal("CPU per GiB below HAProxy's (sockmap, up and down)", txt, met)
    else:
        goal("new connections/s >= 1.2x HAProxy", None, None, sm_why or "HAProxy missing")
        goal("CPU per GiB below HAProxy's", None, None, sm_why or "HAProxy missing")
    if c10 and c100:
        cost = 1 - c100 / c10
        cpu_txt = ""
        if S["scale-10"]["cpu_us"] and S["scale-100k"]["cpu_us"]:
            cr = S["scale-100k"]["cpu_us"] / S["scale-10"]["cpu_us"]
            cpu_txt = f" (agent CPU per connection {cr:.2f}x"
            if abs((cr - 1) - cost) > 0.10:
                cpu_txt += "; the two disagree: conn/s is dominated by other tenants' load"
            cpu_txt += ")"
        goal("100,000 hostnames cost < 5% of connections/s", f"{cost * 100:.1f}%{cpu_txt}", cost < 0.05)
    else:
        goal("100,000 hostnames cost < 5% of connections/s", None, None,
             unavail.get("scale-100k") or sm_why or "not run")
    if avail("snigate-tls", T) and avail("nginx-tls", T):
        rs = [ratio(T["snigate-tls"][c], T["nginx-tls"][c]) for c in tcols]
        met = None if any(r is None for r in rs) else all(r >= 1.0 for r in rs)
        goal("terminate >= NGINX (full ECDSA, full RSA, resumed, bulk down, bulk up)",
             ", ".join(fr(r) for r in rs), met)
    else:
        goal("terminate >= NGINX", None, None, unavail.get("snigate-tls") or unavail.get("nginx-tls"))
    # issue 4's own targets
    if sm_ok and hp_ok:
        r = ratio(sm.get("rr-p50"), hp.get("rr-p50"))
        goal("(issue 4) sockmap p50 round trip below HAProxy's", fr(r), None if r is None else r < 1.0)
        met, txt = all_ratio(sm, hp, bulk_tests, 1.0)
        goal("(issue 4) sockmap bulk at least HAProxy's", txt, met)
    if avail("snigate-userspace", M) and hp_ok:
        met, txt = all_ratio(us, hp, bulk_tests, 1.3)
        goal("(issue 4) userspace engine bulk >= 1.3x HAProxy", txt, met)

    L.append("### Goals")
    L.append("")
    L.append("| goal | measured | status |")
    L.append("|---|---|---|")
    for g in goals:
        L.append(f"| {g[0]} | {g[1]} | {g[2]} |")
    L.append("")

    # ---- limits --------------------------------------------------------------------------
    L.append("### What limits each number")
    L.append("")
    L.append("Cores busy per component during the runs (CPU seconds / wall seconds; the load "
             f"generator is one thread; the machine has {nproc} cores):")
    L.append("")
    def limits(phase, p, tests):
        parts = []
        for t in tests:
            rs = ok(phase, p, t) if t else []
            if not rs:
                continue
            u = {k: med([r["cpu"][k] / r["seconds"] for r in rs]) for k in
                 ("load_s", "proxy_s", "backend_s", "kthreads_s", "system_s")}
            comp = {"load generator": u["load_s"], "backend": u["backend_s"],
                    "proxy": u["proxy_s"], "kernel threads": u["kthreads_s"]}
            top = max(comp, key=comp.get)
            others = max(0.0, u["system_s"] - sum(comp.values()))
            if u["system_s"] >= 0.9 * nproc and others >= 0.3:
                lim = f"all cores busy, {others:.2f} of them by other tenants (noisy)"
            elif u["system_s"] >= 0.9 * nproc:
                lim = "all cores busy (by the benchmark itself)"
            elif top in ("load generator",) and comp[top] >= 0.85:
                lim = "load generator CPU (one thread)"
            elif top == "kernel threads" and comp[top] >= 0.6:
                lim = "kernel worker (sk_psock_backlog runs in a kworker)"
            elif comp[top] >= 0.85:
                lim = f"{top} CPU"
            else:
                lim = "no component saturated: wakeups/latency or other tenants"
            parts.append(f"{t}: load {u['load_s']:.2f}, backend {u['backend_s']:.2f}, proxy "
                         f"{u['proxy_s']:.2f}, kthreads {u['kthreads_s']:.2f}, machine "
                         f"{u['system_s']:.2f}/{nproc} -> {lim}")
        if parts:
            L.append(f"- **{p}**: " + "; ".join(parts))

    for p in PT_ORDER:
        if avail(p, M):
            limits("pt", p, ("bulk-down-1", "bulk-up-8", conn_tests[-1] if conn_tests else None))
    for p in TERM_ORDER:
        if avail(p, T):
            limits("term", p, ("full-ec", "resume-ec", "tls-down"))
    for n in notes:
        if n["topic"].startswith("perf-"):
            L.append(f"- perf, {n['topic'][5:]}, 1-stream download (cpu-clock, samples of the benchmark's own "
                     f"processes and kernel threads; full list in perf-{n['topic'][5:]}.txt): `{n['text']}`")
        elif n["topic"] == "perf":
            L.append(f"- {n['text']}")
    fails = [r for r in runs if not r["ok"]]
    if fails:
        L.append(f"- {len(fails)} run(s) failed and are left out of the medians: " +
                 "; ".join(f"{r['path']} {r['test']} #{r['rep']}: {r.get('error', '')[:120]}" for r in fails[:8]))
    L.append("")

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write("\n".join(L) + "\n")

    # ---- results.json -------------------------------------------------------------------
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"machine": args.machine, "versions": args.versions, "mode": args.mode,
                   "reps": args.reps, "config": args.config, "seconds": args.seconds,
                   "unavailable": unavail, "notes": notes, "medians": {
                       "passthrough": M, "terminate": T, "scale": S,
                       "reload": reload_res, "compile": compile_res},
                   "goals": [{"goal": g[0], "measured": g[1], "status": g[2]} for g in goals],
                   "runs": runs}, f, indent=1)

    # ---- ratios.dat / ratios.gp -------------------------------------------------------
    cols = ["snigate-sockmap", "snigate-userspace", "nginx", "sniproxy", "direct", "snigate-tls"]
    lower_better = {"rr-p50", "rr-p99", "cpu-bulk-up-1", "cpu-bulk-down-1", "mem-total"}
    rows = []
    if avail("haproxy", M):
        for c, n in zip(ratio_cols, ratio_names):
            vals = []
            for p in cols[:-1]:
                v = ratio(M[p].get(c), M["haproxy"].get(c)) if avail(p, M) else None
                if v is not None and c in lower_better:
                    v = 1.0 / v if v else None
                vals.append(v)
            rows.append((n, vals + [None]))
    if avail("snigate-tls", T) and avail("nginx-tls", T):
        for c, n in zip(tcols, ["TLS full EC", "TLS full RSA", "TLS resumed", "TLS down", "TLS up"]):
            rows.append((n, [None] * (len(cols) - 1) + [ratio(T["snigate-tls"][c], T["nginx-tls"][c])]))
    dat = os.path.join(args.out, "ratios.dat")
    with open(dat, "w") as f:
        f.write("metric " + " ".join(cols) + "\n")
        for n, vals in rows:
            f.write('"%s" ' % n + " ".join("?" if v is None else f"{v:.4f}" for v in vals) + "\n")
    if not rows:
        os.unlink(dat)
    with open(os.path.join(args.out, "ratios.gp"), "w") as f:
        f.write(f"""set terminal pngcairo size 1500,650 noenhanced
set output '{os.path.join(args.out, "ratios.png")}'
set title "snigate benchmarks: ratio to HAProxy (passthrough) / NGINX (terminate); > 1 = better (RTT, CPU, memory inverted)\\n{args.machine}"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set datafile missing '?'
set key outside right top vertical
set xtics rotate by -35
set grid ytics
set logscale y 2
set yrange [0.05:*]
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb 'black'
plot '{dat}' using 2:xtic(1) title 'snigate sockmap', '' using 3 title 'snigate userspace', \\
     '' using 4 title 'NGINX stream', '' using 5 title 'sniproxy', '' using 6 title 'direct (no proxy)', \\
     '' using 7 title 'snigate terminate vs NGINX'
""")
    print(f"report: {len(runs)} runs, {len(fails)} failed")


if __name__ == "__main__":
    main()
