#!/usr/bin/env python3
"""The fixed cost of a process under the shim (issue 15): what a program
sees before and after its first Sys* call.

Usage: run.py CASE   (prints TAP; programs come from BC_* variables set by
tests/startup/meson.build)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from run import Tap, run_cases  # noqa: E402

PROG = os.environ.get("BC_STARTUP_PROG", "")


def run(args, shim=True, options="", stdin_closed=False, timeout=60):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if shim:
        env["LD_PRELOAD"] = os.environ["BC_SHIM"]
        env["BSTRCHECK_OPTIONS"] = options
    cmd = [PROG, *args]
    if stdin_closed:  # as `prog <&-` in a shell
        cmd = ["/bin/sh", "-c", 'exec "$@" <&-', "sh", *cmd]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def case_fds_as_bare(t):
    for closed in (False, True):
        how = " (stdin closed)" if closed else ""
        bare = run(["fds"], shim=False, stdin_closed=closed)
        t.eq(bare.returncode, 0, f"bare run exits 0{how}", bare.stderr)
        shim = run(["fds"], stdin_closed=closed)
        t.eq(shim.stdout, bare.stdout, f"no Sys* call: the same descriptors as bare{how}",
             shim.stderr)
        armed = run(["fds", "sys"], stdin_closed=closed)
        t.eq(armed.returncode, 0, f"after a Sys* call: exits 0{how}", armed.stderr)
        t.eq(armed.stdout, bare.stdout,
             f"after a Sys* call: still the same numbers, nothing else below 64, "
             f"nothing an exec inherits{how}", armed.stderr)
    unwind_fp = run(["fds", "sys"], options="unwind=fp")
    bare = run(["fds"], shim=False)
    t.eq(unwind_fp.stdout, bare.stdout, "unwind=fp: the same descriptors as bare",
         unwind_fp.stderr)


def case_no_libraries_unused(t):
    bare = run(["maps"], shim=False)
    t.eq(bare.stdout, "", "bare: none of the unwinder's or symbolizer's libraries", bare.stderr)
    shim = run(["maps"])
    t.eq(shim.returncode, 0, "under the shim, no Sys* call: exits 0", shim.stderr)
    t.eq(shim.stdout, "", "and maps none of them either (no libunwind, liblzma, libdw)",
         shim.stdout)
    armed = run(["maps", "sys"])
    t.ok("mapped libunwind" in armed.stdout.splitlines(),
         "the first Sys* call loads libunwind", armed.stdout + armed.stderr)
    t.ok("mapped libdw" not in armed.stdout, "but not libdw (a report loads it)", armed.stdout)
    fp = run(["maps", "sys"], options="unwind=fp")
    t.ok("mapped libunwind" not in fp.stdout, "unwind=fp never loads libunwind", fp.stdout)


def fork_faults(shim):
    """Minor page faults per fork+_exit+wait, children included: the
    difference between a long and a short loop, so start-up cancels out."""
    counts = []
    for n in (200, 2200):
        r = run(["forks", str(n)], shim=shim)
        if r.returncode != 0 or not r.stdout.startswith("faults "):
            return None
        counts.append(int(r.stdout.split()[1]))
    return (counts[1] - counts[0]) / 2000


def case_fork_faults(t):
    """A fork copies what the parent's and the child's fork handlers write
    one page at a time, and the child maps the handlers' code as it runs
    it: the shim keeps both on one or two pages (BC_FORK_STATE,
    BC_FORK_CODE), so a fork costs a few faults more than bare (6 here),
    not one for each file's locks (13 before)."""
    bare = fork_faults(False)
    shim = fork_faults(True)
    if not t.ok(bare is not None and shim is not None, "the fork loop ran bare and under the shim"):
        return
    print(f"# minor faults per fork: bare {bare:.1f}, under the shim {shim:.1f}")
    t.ok(shim - bare <= 9, f"a fork costs at most 9 page faults more than bare ({shim - bare:.1f})")


def run_unless_hung(t, argv, env, timeout, what):
    """Run ARGV; (proc, stdout, stderr), or (None, ...) after failing WHAT
    when it is still running after TIMEOUT seconds (killed)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        return proc, out, err
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        t.ok(False, f"{what} (timed out)", err[-2000:])
        return None, out, err


def case_first_call_race(t):
    work = tempfile.mkdtemp(prefix="bstrcheck-startup-")
    try:
        json_path = os.path.join(work, "r-%p.json")
        env = dict(os.environ)
        env["LD_PRELOAD"] = os.environ["BC_SHIM"]
        env["BSTRCHECK_OPTIONS"] = f"json_path={json_path}"
        # A fork in the middle of another thread's libunwind walk, or of the
        # shim's dlopen of libunwind, hung or crashed about one child in a
        # few hundred: 20 rounds of 8 forks catch that most of the time.
        for round_ in range(20):
            proc, out, err = run_unless_hung(t, [PROG, "race", "8"], env, 20,
                                             f"round {round_}: no deadlock")
            if not proc or not t.eq(proc.returncode, 0, f"round {round_}: exits 0",
                                    out + err[-2000:]):
                return
            t.ok("made 8" in out and "children failed 0" in out,
                 f"round {round_}: 8 threads made their first BSTR at once, 8 forked "
                 "children made one", out)
            report_path = json_path.replace("%p", str(proc.pid))
            with open(report_path, encoding="utf-8") as f:
                report = json.load(f)
            t.eq(report["summary"]["allocations"], 8,
                 f"round {round_}: the parent's report counts all 8", report["summary"])
            kinds = [f["kind"] for f in report.get("findings", [])]
            t.eq(kinds, [], f"round {round_}: and finds nothing", kinds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def case_report_fork(t):
    """A report says a finding, walking its access stack under the report's
    lock, while another thread forks: the fork waits for the report, and
    neither waits for ever (they deadlocked when the fork waited for
    fork-unsafe work before taking the report's lock)."""
    env = dict(os.environ)
    env["LD_PRELOAD"] = os.environ["BC_SHIM"]
    env["BSTRCHECK_OPTIONS"] = "log_path=/dev/null:exitcode=0:mode=own"
    proc, out, err = run_unless_hung(t, [PROG, "reports", "200"], env, 60,
                                     "200 reports and 200 forks at once: no deadlock")
    if not proc:
        return
    t.eq(proc.returncode, 0, "exits 0", err[-2000:])
    t.ok("forked 200" in out, "200 children forked and reaped", out)


if __name__ == "__main__":
    run_cases(globals())
