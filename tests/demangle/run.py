#!/usr/bin/env python3
"""C++ names are demangled even when the process has no __cxa_demangle of
its own: a g++ program that --as-needed stripped of libstdc++, and a C
program whose C++ plugin carries libstdc++ statically. Checks the text and
JSON reports' function names and that a suppression by the demangled name
matches.

Usage: run.py CASE   (prints TAP)
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from run import Tap, run_cases, scratch_dir  # noqa: E402


def run(argv, options=""):
    workdir = scratch_dir("bstrcheck-demangle-")
    try:
        json_path = os.path.join(workdir, "report.json")
        opts = [f"json_path={json_path}"]
        if options:
            supp = os.path.join(workdir, "suppressions.txt")
            with open(supp, "w", encoding="utf-8") as f:
                f.write(options + "\n")
            opts.append(f"suppressions={supp}")
        env = dict(os.environ)
        env["BSTRCHECK_OPTIONS"] = ":".join(opts)
        env["LD_PRELOAD"] = os.environ["BC_SHIM"]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=90)
        report = None
        if os.path.exists(json_path):
            with open(json_path, encoding="utf-8") as f:
                report = json.load(f)
        return proc, report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def check(t, argv, expected):
    proc, report = run(argv)
    t.ok("libstdc++ loaded: no" in proc.stdout,
         "the program runs without libstdc++ (no __cxa_demangle of its own)", proc.stdout)
    leaks = [f for f in (report or {}).get("findings", []) if f["kind"] == "leak"]
    t.eq(len(leaks), 1, "one leak", proc.stderr)
    functions = [fr.get("function") for fr in leaks[0]["stacks"]["alloc"]] if leaks else []
    t.ok(expected in functions, f"JSON: frame function {expected}", functions)
    t.ok(not any((f or "").startswith("_Z") for f in functions), "JSON: no mangled name", functions)
    t.ok(f" in {expected} " in proc.stderr, "text report: the demangled name", proc.stderr)
    t.ok("_ZN4Shop" not in proc.stderr, "text report: no mangled name", proc.stderr)
    proc, report = run(argv, "leak:Shop::Catalog::Consume")
    summary = (report or {}).get("summary", {})
    t.eq((summary.get("leaked"), summary.get("suppressed")), (0, 1),
         "leak:Shop::Catalog::Consume suppresses it", proc.stderr)
    t.eq(proc.returncode, 0, "and the run passes")


def case_as_needed_program(t):
    check(t, [os.environ["BC_ASNEEDED"]], "Shop::Catalog::Consume(char16_t const*)")


def case_static_libstdcxx_plugin(t):
    check(t, [os.environ["BC_HOST"], os.environ["BC_CATALOG_PLUGIN"]],
          "Shop::Catalog::Consume(std::__cxx11::basic_string<char16_t, "
          "std::char_traits<char16_t>, std::allocator<char16_t> > const&)")


if __name__ == "__main__":
    run_cases(globals())
