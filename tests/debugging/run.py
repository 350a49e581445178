#!/usr/bin/env python3
"""Debugging support: allocation numbers in the reports, break_on_alloc
(with and without a debugger), bstrcheck_describe, and the gdb extension's
`bstr` and `bstr-leaks` commands driven by `gdb -batch`.

Usage: run.py CASE   (prints TAP; exit 77 skips when gdb is missing)
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from run import Tap, run_cases, scratch_dir  # noqa: E402


def run(program, args=(), options="", preload=True):
    """PROGRAM (a BC_* variable) under the shim; its JSON report, stdout,
    stderr and status. The temporary directory is removed."""
    workdir = scratch_dir("bstrcheck-debug-")
    try:
        json_path = os.path.join(workdir, "report.json")
        opts = [f"json_path={json_path}"] + ([options] if options else [])
        env = dict(os.environ)
        env["BSTRCHECK_OPTIONS"] = ":".join(opts)
        env.pop("LD_PRELOAD", None)
        if preload:
            env["LD_PRELOAD"] = os.environ["BC_SHIM"]
        proc = subprocess.run([os.environ[program], *args], env=env, capture_output=True,
                              text=True, timeout=90)
        report = None
        if os.path.exists(json_path):
            with open(json_path, encoding="utf-8") as f:
                report = json.load(f)
        return proc, report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def seqs(report):
    return [(f["kind"], f.get("seq")) for f in (report or {}).get("findings", [])]


def skip_without_gdb():
    if not os.environ.get("BC_GDB"):
        print("1..0 # SKIP gdb is not installed (scripts/bootstrap installs it)")
        sys.exit(77)


def gdb_batch(program, commands, options="", preload=True, extension=False):
    """Run PROGRAM under `gdb -batch` with COMMANDS (-ex each); its output."""
    cmd = [os.environ["BC_GDB"], "-batch", "-nx", "-ex", "set startup-with-shell off",
           "-ex", "set breakpoint pending on", "-ex", "set pagination off"]
    if extension:
        cmd += ["-x", os.environ["BC_GDB_EXTENSION"]]
    for c in commands:
        cmd += ["-ex", c]
    cmd += ["-ex", "kill", os.environ[program]]
    env = dict(os.environ)
    env["BSTRCHECK_OPTIONS"] = options
    env.pop("LD_PRELOAD", None)
    if preload:
        # gdb itself must not run under the shim: the inferior gets it
        cmd[1:1] = ["-ex", f"set environment LD_PRELOAD={os.environ['BC_SHIM']}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=100,
                          stdin=subprocess.DEVNULL)
    return proc.stdout + proc.stderr


# ----------------------------------------------------- allocation numbers

GREETER_SEQS = [("double_free", 13), ("double_free", 16), ("leak", {"first": 4, "last": 12})]


def case_seq_in_reports(t):
    proc, report = run("BC_GREETER")
    # SetName's copy is {2}, GetGreeting's "Hello, " {3}, its reallocation {4}: the
    # first leaked greeting; three greetings later, the last is {12}.
    t.eq(seqs(report), GREETER_SEQS, "JSON seq: errors' BSTR, leak group's first and last")
    lines = [l.strip() for l in proc.stderr.splitlines() if l.startswith("  seq: ")]
    t.eq(lines, ["seq: {13}", "seq: {16}", "seq: {4} first, {12} last"],
         "text report: {N} under each finding", proc.stderr)
    proc, report = run("BC_VERDICTS", ["out_not_freed"])
    t.eq(seqs(report), [("leak", {"first": 2, "last": 2})], "a group of one: first == last")
    t.ok("  seq: {2}\n" in proc.stderr, "text: a single {N}", proc.stderr)


def case_seq_same_every_run(t):
    """A single-threaded program numbers its BSTRs the same way every run
    (addresses change with ASLR; the numbers do not)."""
    runs = [run("BC_GREETER") for _ in range(3)]
    numbers = [seqs(report) for _, report in runs]
    t.ok(all(n == numbers[0] for n in numbers), "the same seq in three runs", numbers)
    t.eq(numbers[0], GREETER_SEQS, "and the expected ones")
    addresses = [re.findall(r"BSTR (0x[0-9a-f]+)", proc.stderr)[:1] for proc, _ in runs]
    t.ok(len({a[0] for a in addresses if a}) > 1 or not os.path.exists("/proc/sys/kernel/randomize_va_space")
         or open("/proc/sys/kernel/randomize_va_space").read().strip() == "0",
         "while the addresses differ (ASLR)", addresses)


# ------------------------------------------------------- break_on_alloc

def case_break_on_alloc_no_debugger(t):
    proc, report = run("BC_GREETER", options="break_on_alloc=4,13")
    lines = [l for l in proc.stderr.splitlines() if "break_on_alloc" in l]
    t.eq(len(lines), 2, "one line per listed allocation", proc.stderr)
    t.ok(len(lines) == 2 and "allocation {4} is BSTR 0x" in lines[0]
         and "allocation {13} is BSTR 0x" in lines[1], "naming its number and BSTR", lines)
    t.ok(all("no debugger attached" in l for l in lines), "and that no debugger is attached")
    t.eq(proc.returncode, 23, "the program went on to its normal end")
    t.eq(seqs(report), GREETER_SEQS, "with the same report")
    leak = [l for l in proc.stderr.splitlines() if "Leak of" in l]
    addr = re.search(r"allocation \{4\} is BSTR (0x[0-9a-f]+)", lines[0]) if lines else None
    t.ok(addr is not None and leak, "the {4} line names an address", lines)


def case_break_on_alloc_bad_value(t):
    for value in ("abc", "0", "4,", "4;5", "-1"):
        proc, report = run("BC_GREETER", options=f"break_on_alloc={value}")
        warned = [l for l in proc.stderr.splitlines() if "break_on_alloc" in l]
        t.eq(len(warned), 1, f"break_on_alloc={value}: one line", proc.stderr)
        t.ok(warned and f"'{value}'" in warned[0] and "N[,N...]" in warned[0],
             f"break_on_alloc={value}: names the value and the valid form", warned)
        t.eq(seqs(report), GREETER_SEQS, f"break_on_alloc={value}: the program ran normally")


def case_break_on_alloc_gdb(t):
    skip_without_gdb()
    out = gdb_batch("BC_GREETER", [
        "break bstrcheck_break", "run", "print seq", "continue", "frame function greet",
        "print greeting",
    ], options="break_on_alloc=4", preload=False)
    t.ok(re.search(r"Breakpoint 1, bstrcheck_break \(seq=(seq@entry=)?4, bstr=(bstr@entry=)?0x[0-9a-f]+\)", out) is not None,
         "gdb stops in bstrcheck_break with seq 4", out)
    t.ok("$1 = 4" in out, "print seq", out)
    t.ok("Program received signal SIGTRAP" in out, "then SIGTRAP: a debugger is attached", out)
    t.ok(re.search(r"#\d+ +0x[0-9a-f]+ in greet \(", out) is not None,
         "frame function greet lands in the caller of the allocating function", out)
    t.ok("no debugger attached" not in out, "no 'no debugger' line under gdb", out)


# ------------------------------------------------------------ describe

def sections(stdout):
    """The describe program's '== NAME: N' sections."""
    out = {}
    for block in re.split(r"^== ", stdout, flags=re.M)[1:]:
        head, _, body = block.partition("\n")
        name, _, n = head.partition(": ")
        out[name] = (n, body)
    return out


def case_describe_api(t):
    proc, report = run("BC_DESCRIBE")
    t.eq(proc.returncode, 0, "the program runs (and frees what it describes)", proc.stderr)
    s = sections(proc.stdout)
    n, live = s.get("live", ("0", ""))
    t.ok(re.match(r"BSTR \{1\} at 0x[0-9a-f]+: live, 15 character\(s\) \(30 bytes\), 0 pin\(s\)", live),
         "a live BSTR: number, length, pins", live)
    t.ok('  sample: "Hello, describe"' in live, "its sample", live)
    t.ok("  allocated at:\n    #0 0x" in live and " in make_live " in live and "describe.c:" in live,
         "its allocation stack", live)
    t.eq(int(n), len(live), "the return value is the description's length")
    n, freed = s.get("freed", ("0", ""))
    t.ok(re.match(r"BSTR \{2\} at 0x[0-9a-f]+: freed \(held in the quarantine\), 4 character", freed),
         "a freed BSTR", freed)
    t.ok("  freed at:" in freed and "  allocated at:" in freed and freed.count(" in make_freed ") == 2,
         "its free and allocation stacks", freed)
    _, inside = s.get("inside", ("0", ""))
    t.ok(re.match(r"0x[0-9a-f]+: 6 byte\(s\) inside the BSTR \{1\} at 0x[0-9a-f]+\nBSTR \{1\}", inside),
         "an address inside a BSTR: the offset and the BSTR", inside)
    _, unknown = s.get("unknown", ("0", ""))
    t.ok(re.match(r"0x[0-9a-f]+: not a BSTR bstrcheck knows", unknown), "an unknown address", unknown)
    small = re.search(r"== small: returned (\d+), wrote (\d+)", proc.stdout)
    t.ok(small is not None and int(small.group(1)) == len(live) and small.group(2) == "15",
         "a small buffer: cut and terminated, the full length returned", proc.stdout)


def case_describe_without_shim(t):
    proc, _ = run("BC_DESCRIBE", preload=False)
    t.eq(proc.returncode, 0, "runs without the shim", proc.stderr)
    s = sections(proc.stdout)
    t.eq({k: v for k, v in s.items() if k != "small"},
         {"live": ("0", ""), "freed": ("0", ""), "inside": ("0", ""), "unknown": ("0", "")},
         "every description is empty, length 0", proc.stdout)
    t.ok("== small: returned 0, wrote 0" in proc.stdout, "and the buffer is emptied", proc.stdout)


# ----------------------------------------------------- gdb extension

def case_gdb_bstr(t):
    skip_without_gdb()
    out = gdb_batch("BC_DESCRIBE", [
        "break stop_here", "run", "bstr live_bstr", "bstr freed_bstr", "bstr (char *)live_bstr + 6",
        "bstr &live_bstr", "bstr 16",
    ], extension=True)
    t.ok(re.search(r"BSTR \{1\} at 0x[0-9a-f]+: live, 15 character\(s\) \(30 bytes\), 0 pin\(s\).*\n"
                   r'  sample: "Hello, describe"\n  allocated at:\n    #0 0x[0-9a-f]+ in make_live ', out),
         "bstr live_bstr: the live BSTR with its stack", out)
    t.ok(re.search(r"BSTR \{2\} at 0x[0-9a-f]+: freed \(held in the quarantine\)", out),
         "bstr freed_bstr: the freed one", out)
    t.ok(re.search(r"6 byte\(s\) inside the BSTR \{1\}", out), "bstr EXPR+6: inside", out)
    t.eq(len(re.findall(r"not a BSTR bstrcheck knows", out)), 2,
         "bstr &live_bstr and bstr 16: unknown", out)
    no_shim = gdb_batch("BC_DESCRIBE", ["break stop_here", "run", "bstr live_bstr"],
                        preload=False, extension=True)
    t.ok("the shim is not loaded in this program" in no_shim, "without the shim: one clear error",
         no_shim)


def case_gdb_bstr_leaks(t):
    skip_without_gdb()
    out = gdb_batch("BC_DESCRIBE", ["break stop_here", "run", "bstr-leaks"], extension=True)
    t.ok("bstrcheck: 1 BSTR(s) live now" in out, "bstr-leaks counts the live BSTR", out)
    t.ok(re.search(r"Leak of 1 BSTR\(s\), 30 bytes, allocated from:\n    #0 0x[0-9a-f]+ in make_live", out),
         "and reports it with its stack", out)
    t.ok("since the checkpoint" not in out, "as what is live now, not since a checkpoint", out)
    t.ok("rule:" not in out, "with no verdict: the program may still free it", out)


if __name__ == "__main__":
    run_cases(globals())
