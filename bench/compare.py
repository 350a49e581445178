#!/usr/bin/env python3
"""Run workloads with and without the shim, interleaved, and print medians
and ratios against the bare run. Whole-process wall time.

usage: compare.py --runs N --shim PATH -- VARIANT... -- COMMAND...
Each VARIANT is 'bare' (no shim), 'default' (the shim with default
options) or a BSTRCHECK_OPTIONS string for the shim.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def run_once(cmd, env):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 23):
        sys.exit(f"{cmd[0]} failed with {proc.returncode}: {proc.stderr[-2000:]}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--title", default="benchmark")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    rest = args.rest[1:] if args.rest and args.rest[0] == "--" else args.rest
    split = rest.index("--")
    variants = [(v, "" if v == "default" else v) for v in rest[:split]]
    cmd = rest[split + 1:]

    times = {name: [] for name, _ in variants}
    for _ in range(args.runs):  # interleaved: drift hits every variant alike
        for name, options in variants:
            env = dict(os.environ)
            env.pop("LD_PRELOAD", None)
            if name != "bare":
                env["LD_PRELOAD"] = os.path.abspath(args.shim)
                env["BSTRCHECK_OPTIONS"] = options
            times[name].append(run_once(cmd, env))
    base = statistics.median(times[variants[0][0]])
    print(f"{args.title}: {' '.join(cmd)} ({args.runs} runs each, median wall time)")
    print(f"  {'variant':<28} {'median s':>9} {'ratio':>7}")
    for name, options in variants:
        med = statistics.median(times[name])
        print(f"  {name:<28} {med:9.3f} {med / base:6.2f}x")


if __name__ == "__main__":
    main()
