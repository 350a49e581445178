#!/usr/bin/env python3
"""bstrcheck's performance benchmark: the workload of bench/bstr_workload.c
without any tool, under the shim (own, forward, frame-pointer unwinding,
free_stacks=0), and under LeakSanitizer, heaptrack and Valgrind where they
are installed. Runs are interleaved; the table gives medians of whole-
process wall time and ratios against the bare run; then, per iteration,
the same ratios with the fixed start-up and exit costs (the report's
symbolization above all) taken out: the difference between a run of N
iterations and one of N/10. Then two-thread scaling and metadata bytes per
live BSTR.

usage: perf.py --workload W --shim S [--lsan W_LSAN] [--runs N]
               [--iterations N] [--depth D] [--length L] [--quick]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd, env):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def base_env():
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "BSTRCHECK_OPTIONS"):
        env.pop(name, None)
    return env


def shim_env(shim, options):
    env = base_env()
    env["LD_PRELOAD"] = shim
    env["BSTRCHECK_OPTIONS"] = "exitcode=0:" + options
    return env


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("--lsan")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=1000000)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--length", type=int, default=24)
    ap.add_argument("--live", type=int, default=1000000)
    ap.add_argument("--slow-tools-runs", type=int, default=1,
                    help="runs of heaptrack and valgrind (they are slow)")
    args = ap.parse_args()
    shim = os.path.abspath(args.shim)
    work = [os.path.abspath(args.workload), str(args.iterations), str(args.depth), "1", "1000",
            str(args.length)]
    tmp = tempfile.mkdtemp(prefix="bstrcheck-perf-")

    variants = [
        ("no tool", work, base_env()),
        ("bstrcheck own", work, shim_env(shim, "mode=own")),
        ("bstrcheck forward", work, shim_env(shim, "mode=forward")),
        ("bstrcheck own, unwind=fp", work, shim_env(shim, "mode=own:unwind=fp")),
        ("bstrcheck forward, unwind=fp", work, shim_env(shim, "mode=forward:unwind=fp")),
        ("bstrcheck own, free_stacks=0", work, shim_env(shim, "mode=own:free_stacks=0")),
        ("bstrcheck forward, free_stacks=0", work, shim_env(shim, "mode=forward:free_stacks=0")),
        ("bstrcheck forward, stack_cache=0", work, shim_env(shim, "mode=forward:stack_cache=0")),
    ]
    if args.lsan and os.path.exists(args.lsan):
        env = base_env()
        env["LSAN_OPTIONS"] = "exitcode=0"
        variants.append(("LeakSanitizer (fp unwinding)", [os.path.abspath(args.lsan), *work[1:]], env))
    slow = []
    if shutil.which("heaptrack"):
        slow.append(("heaptrack", ["heaptrack", "-o", os.path.join(tmp, "ht"), *work], base_env()))
    if shutil.which("valgrind"):
        slow.append(("Valgrind memcheck", ["valgrind", "-q", "--leak-check=full",
                                           "--error-exitcode=0", *work], base_env()))

    def shorter(cmd):
        """CMD with a tenth of the iterations."""
        at = cmd.index(str(args.iterations))
        return cmd[:at] + [str(args.iterations // 10)] + cmd[at + 1:]

    times = {name: [] for name, _, _ in variants + slow}
    short_times = {name: [] for name, _, _ in variants}
    for i in range(args.runs):
        for name, cmd, env in variants:
            times[name].append(timed(cmd, env)[0])
            short_times[name].append(timed(shorter(cmd), env)[0])
        if i < args.slow_tools_runs:
            for name, cmd, env in slow:
                times[name].append(timed(cmd, env)[0])

    base = statistics.median(times["no tool"])
    print(f"workload: {args.iterations} iterations, allocation {args.depth} frames deep, "
          f"{args.length} characters, 1 in 1000 leaked; median of {args.runs} interleaved runs "
          f"({args.slow_tools_runs} for heaptrack/valgrind), whole-process wall time")
    print(f"  {'tool':<32} {'seconds':>8} {'ratio':>7}")
    for name in times:
        med = statistics.median(times[name])
        print(f"  {name:<32} {med:8.3f} {med / base:6.2f}x")

    def per_iteration(name):
        """Nanoseconds per iteration, fixed costs out."""
        long_run, short_run = statistics.median(times[name]), statistics.median(short_times[name])
        return (long_run - short_run) / (args.iterations - args.iterations // 10) * 1e9

    bare_ns = per_iteration("no tool")
    print("per iteration, start-up and exit costs out (N against N/10 iterations):")
    print(f"  {'tool':<32} {'ns':>8} {'ratio':>7} {'fixed s':>8}")
    for name in short_times:
        ns = per_iteration(name)
        fixed = statistics.median(times[name]) - ns * args.iterations / 1e9
        print(f"  {name:<32} {ns:8.1f} {ns / bare_ns:6.2f}x {fixed:8.3f}")

    # Two threads on two cores: each thread does the same iterations, so
    # throughput(2)/throughput(1) = 2 * t1 / t2.
    print("two threads (each the full workload) vs one: throughput ratio")
    for name, options in (("no tool", None), ("bstrcheck own", "mode=own"),
                          ("bstrcheck forward", "mode=forward")):
        env = base_env() if options is None else shim_env(shim, options)
        one, two = [], []
        for _ in range(max(3, args.runs // 2)):
            one.append(timed(work, env)[0])
            two.append(timed(work[:3] + ["2"] + work[4:], env)[0])
        print(f"  {name:<32} {2 * statistics.median(one) / statistics.median(two):6.2f}x")

    # Metadata: the same blocks (forward mode wraps the bare runtime), so
    # the difference in resident memory is the shim's bookkeeping.
    live_cmd = [work[0], "0", str(args.depth), "1", "0", str(args.length), str(args.live)]

    def growth(env):
        out = timed(live_cmd, env)[1]
        fields = dict(part.split("=") for part in out.split())
        return int(fields["rss_after_kb"]) - int(fields["rss_before_kb"])

    bare_kb = growth(base_env())
    shim_kb = growth(shim_env(shim, "mode=forward"))
    print(f"metadata with {args.live} live BSTRs (forward mode, same blocks): "
          f"{(shim_kb - bare_kb) * 1024 / args.live:.1f} bytes per live BSTR "
          f"(RSS growth {bare_kb} KiB bare, {shim_kb} KiB under the shim, depot included)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
