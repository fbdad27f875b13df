#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Reads `perf report --sort pid,sym --stdio` on stdin and keeps only the benchmark's own
# processes (given pids, kernel threads, the load generator): the machine is shared.
import re
import sys


def kthread_pids():
    import os
    out = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        if int(fields[6]) & 0x00200000:  # PF_KTHREAD
            out.add(int(d))
    return out


def main():
    import os
    ours = set()
    for p in sys.argv[1].split(","):
        if p:  # perf's "pid" key is the thread id: take every thread
            ours.add(int(p))
            try:
                ours |= {int(t) for t in os.listdir(f"/proc/{p}/task")}
            except OSError:
                pass
    ours |= kthread_pids()
    comms = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else set()
    rows, total = [], 0.0
    for line in sys.stdin:
        m = re.match(r"\s*([0-9.]+)%\s+(\d+):(\S+)\s+(\[.\])\s+(.*\S)", line)
        if not m:
            continue
        pct, pid, comm, kind, sym = float(m[1]), int(m[2]), m[3], m[4], m[5]
        if pid in ours or comm in comms:
            total += pct
            rows.append((pct, comm, kind, sym))
    if not total:
        return
    agg = {}
    for pct, comm, kind, sym in rows:
        key = (re.sub(r"[/:].*", "", comm), kind, sym)  # kworker/0:1 -> kworker
        agg[key] = agg.get(key, 0.0) + pct
    print(f"# {total:.1f}% of all machine samples were the benchmark's; shares below are of those")
    for (comm, kind, sym), pct in sorted(agg.items(), key=lambda kv: -kv[1])[:12]:
        print(f"{pct / total * 100:5.1f}% {comm} {kind} {sym}")


if __name__ == "__main__":
    main()
