#!/usr/bin/env python3
"""The benchmark suite's one table (issue 15): the fixed cost of a process,
fork, a loop of processes under the launcher, the live-set scale and the
call path, each bare, under bstrcheck (own and forward) and under
LeakSanitizer, with ratios against bare and against LeakSanitizer, all from
the same run. Every figure is the median of interleaved runs (variant A, B,
C, D, then A again), so load on the machine falls on all of them alike.

usage: suite.py --shim S --launcher L --runtime LIBBENCHOLE --live BSTR_LIVE
                --workload BSTR_WORKLOAD [--live-lsan P] [--workload-lsan P]
                [--fork-loop P] [--quick]

A program that is not given (or not built) gives "n/a" cells. Prints one
markdown table; never fails on a time.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

BARE, OWN, FORWARD, LSAN = "bare", "own", "forward", "lsan"
VARIANTS = (BARE, OWN, FORWARD, LSAN)


def base_env():
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "BSTRCHECK_OPTIONS", "LSAN_OPTIONS", "ASAN_OPTIONS"):
        env.pop(name, None)
    return env


class Suite:
    def __init__(self, args):
        self.a = args
        self.rows = []

    def env(self, variant, preload_runtime=False):
        env = base_env()
        if variant in (OWN, FORWARD):
            env["LD_PRELOAD"] = self.a.shim
            if preload_runtime and variant == FORWARD:
                env["LD_PRELOAD"] += ":" + self.a.runtime
            env["BSTRCHECK_OPTIONS"] = f"exitcode=0:mode={variant}"
        elif variant == BARE and preload_runtime:
            env["LD_PRELOAD"] = self.a.runtime
        elif variant == LSAN:
            env["LSAN_OPTIONS"] = "exitcode=0"
        return env

    @staticmethod
    def wall(cmd, env):
        """Seconds from start to exit of CMD (output discarded)."""
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        return time.perf_counter() - t0

    @staticmethod
    def output(cmd, env):
        return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False).stdout

    def interleaved(self, runs, measure):
        """MEASURE(variant) -> float or None, RUNS times per variant,
        interleaved; the median of each (None when never measured)."""
        got = {v: [] for v in VARIANTS}
        for _ in range(runs):
            for v in VARIANTS:
                x = measure(v)
                if x is not None:
                    got[v].append(x)
        return {v: statistics.median(xs) if xs else None for v, xs in got.items()}

    def row(self, name, unit, figures):
        self.rows.append((name, unit, figures))
        # progress on stderr, so a slow run shows where it is
        print(f"suite: {name}: " + ", ".join(f"{v}={fmt(figures[v])}" for v in VARIANTS),
              file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- rows
    def fixed_cost(self):
        runs = 10 if self.a.quick else 30

        def true_cmd(v):
            return None if v in (FORWARD, LSAN) else ["/bin/true"]

        self.row("fixed cost: /bin/true", "ms per process", self.interleaved(
            runs, lambda v: 1e3 * self.wall(true_cmd(v), self.env(v)) if true_cmd(v) else None))

        def tiny(v):
            if v == LSAN:
                return [self.a.live_lsan, "1"] if self.a.live_lsan else None
            return [self.a.live, "1"]

        self.row("fixed cost: tiny C program (1 BSTR)", "ms per process", self.interleaved(
            runs, lambda v: 1e3 * self.wall(tiny(v), self.env(v)) if tiny(v) else None))

    def fork(self, live):
        """fork+_exit+wait with LIVE BSTRs made first (0: a process that
        never made one, which every process pays for)."""
        name = f"fork: fork+_exit+wait, {live:,} BSTRs live" if live else \
            "fork: fork+_exit+wait, no BSTR made"
        unit = "µs per fork"
        if not self.a.fork_loop:
            self.row(name, unit, {v: None for v in VARIANTS})
            return

        def measure(v):
            if v == LSAN:
                return None
            out = self.output([self.a.fork_loop, "fork", "1000", str(live)],
                              self.env(v, preload_runtime=True))
            try:
                return float(out.split(":")[1].split()[0])
            except (IndexError, ValueError):
                return None

        self.row(name, unit, self.interleaved(3 if self.a.quick else 5, measure))

    def process_loop(self):
        n = 100 if self.a.quick else 500
        loop = f'i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done'

        def measure(v):
            if v == BARE:
                return 1e3 * self.wall(["sh", "-c", loop], base_env())
            if v == OWN:
                return 1e3 * self.wall([self.a.launcher, "--", "sh", "-c", loop], base_env())
            return None

        self.row(f"process loop: {n}× /bin/true from sh, launcher in the own column", "ms",
                 self.interleaved(3, measure))

    def live_set(self):
        sizes = ((100_000, 5), (1_000_000, 3), (2_000_000, 1))
        if self.a.quick:
            sizes = ((100_000, 1), (1_000_000, 1))
        for n, runs in sizes:
            def measure(v, n=n):
                if v == LSAN:
                    if not self.a.live_lsan:
                        return None
                    return 1e3 * self.wall([self.a.live_lsan, str(n)], self.env(v))
                return 1e3 * self.wall([self.a.live, str(n)], self.env(v))

            self.row(f"live set: {n:,} BSTRs made, all live, freed", "ms", self.interleaved(runs, measure))

    def call_path(self):
        # per call: the difference between two runs, so start-up and the
        # exit report (fixed costs, in the rows above) cancel out
        small, large = (20_000, 200_000) if self.a.quick else (50_000, 500_000)

        def measure(v, n):
            prog = self.a.workload
            if v == LSAN:
                if not self.a.workload_lsan:
                    return None
                prog = self.a.workload_lsan
            # no leaks: the exit report (LSan symbolizes each one) is not a call cost
            return self.wall([prog, str(n), "16", "1", "0"], self.env(v))

        runs = 3 if self.a.quick else 5
        # both sizes interleaved; the per-call figure from their medians
        t_small = self.interleaved(runs, lambda v: measure(v, small))
        t_large = self.interleaved(runs, lambda v: measure(v, large))
        per_call = {v: None if t_small[v] is None else
                    1e9 * (t_large[v] - t_small[v]) / (large - small) for v in VARIANTS}
        self.row("call path: SysAllocStringLen+SysFreeString, 16 frames deep", "ns per pair",
                 per_call)

    # --------------------------------------------------------------- table
    def table(self):
        head = ("| measurement | unit | bare | bstrcheck own | bstrcheck forward | LeakSanitizer "
                "| own / bare | forward / bare | own / LSan | forward / LSan |")
        lines = [head, "|" + "---|" * 10]
        for name, unit, f in self.rows:
            cells = [name, unit] + [fmt(f[v]) for v in VARIANTS] + [
                ratio(f[OWN], f[BARE]), ratio(f[FORWARD], f[BARE]),
                ratio(f[OWN], f[LSAN]), ratio(f[FORWARD], f[LSAN])]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def fmt(x):
    if x is None:
        return "n/a"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "n/a"
    return f"{a / b:.1f}x" if a / b >= 10 else f"{a / b:.2f}x"


def existing(path):
    return os.path.abspath(path) if path and os.path.exists(path) else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shim", required=True)
    ap.add_argument("--launcher", required=True)
    ap.add_argument("--runtime", required=True, help="the bare BSTR runtime (libbenchole.so)")
    ap.add_argument("--live", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--live-lsan")
    ap.add_argument("--workload-lsan")
    ap.add_argument("--fork-loop")
    ap.add_argument("--quick", action="store_true", help="fewer runs, smaller sizes")
    args = ap.parse_args()
    for name in ("shim", "launcher", "runtime", "live", "workload"):
        if not existing(getattr(args, name)):
            print(f"suite: --{name.replace('_', '-')} {getattr(args, name)}: no such file",
                  file=sys.stderr)
            return 2
        setattr(args, name, existing(getattr(args, name)))
    for name in ("live_lsan", "workload_lsan", "fork_loop"):
        setattr(args, name, existing(getattr(args, name)))

    suite = Suite(args)
    t0 = time.monotonic()
    suite.fixed_cost()
    suite.fork(0)
    suite.fork(10000)
    suite.process_loop()
    suite.live_set()
    suite.call_path()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(suite.table())
    print(f"\nMedians of interleaved runs; {os.cpu_count()} CPUs, load average {load:.1f} "
          f"at the end; the suite took {time.monotonic() - t0:.0f} s. n/a: not measured "
          "(no such build, or not meaningful for that column).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
