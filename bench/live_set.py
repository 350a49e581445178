#!/usr/bin/env python3
"""The live-set benchmark (issue 15): bstr-live at each size, without a tool,
under the shim (own and forward) and LeakSanitizer, runs interleaved. Prints
median CPU seconds (user + system: the machine is shared, and wall time
counts other processes' turns), ratios against no tool and LeakSanitizer,
the cost of 2M against 1M, and metadata bytes per live BSTR (peak RSS over
the bare run's).

usage: live_set.py --live PATH --shim PATH [--lsan PATH] [--runs N] [N...]
"""
import argparse
import os
import statistics
import subprocess
import sys


def run_once(cmd, env):
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit(f"{cmd[0]} failed ({status})")
    return usage.ru_utime + usage.ru_stime, int(out.split()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--live", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--lsan")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("sizes", nargs="*", default=["100000", "1000000", "2000000"])
    args = ap.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "BSTRCHECK_OPTIONS")}
    variants = [("no tool", args.live, {})]
    for mode in ("own", "forward"):
        variants.append((f"bstrcheck {mode}", args.live,
                         {"LD_PRELOAD": args.shim, "BSTRCHECK_OPTIONS": "exitcode=0:mode=" + mode}))
    if args.lsan:
        variants.append(("LeakSanitizer", args.lsan, {}))
    cost = {}
    for n in args.sizes:
        times = {name: [] for name, _, _ in variants}
        rss = {}
        for _ in range(args.runs):  # interleaved: drift hits every variant alike
            for name, exe, env in variants:
                t, kb = run_once([exe, n], dict(base, **env))
                times[name].append(t)
                rss[name] = kb
        med = {name: statistics.median(t) for name, t in times.items()}
        print(f"\n{int(n):,} live BSTRs, median CPU seconds of {args.runs} runs")
        print("| tool | seconds | vs no tool | vs LeakSanitizer | bytes per BSTR |")
        print("|---|---|---|---|---|")
        for name, _, _ in variants:
            lsan = f"{med[name] / med['LeakSanitizer']:.2f}x" if args.lsan else ""
            extra = (rss[name] - rss["no tool"]) * 1024 / int(n)
            print(f"| {name} | {med[name]:.3f} | {med[name] / med['no tool']:.2f}x | {lsan} "
                  f"| {extra:.1f} |")
            cost.setdefault(name, {})[n] = med[name]
    if "1000000" in args.sizes and "2000000" in args.sizes:
        print("\n2M against 1M: " + ", ".join(
            f"{name} {c['2000000'] / c['1000000']:.2f}x" for name, c in cost.items()))


if __name__ == "__main__":
    main()
