#!/usr/bin/env python3
"""Ownership verdicts: run one scenario of verdicts.cpp (or the bundled
example) under the shim and check the rule each finding gets, in the text
report ("  rule: ..."), the JSON report ("rule": {"id", "text"}) and the
SARIF report (the result message).

Usage: run.py CASE   (prints TAP)
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from run import Tap, run_cases, scratch_dir  # noqa: E402


class Run:
    def __init__(self, proc, report, sarif):
        self.status = proc.returncode
        self.stderr = proc.stderr
        self.report = report or {}
        self.sarif = sarif or {}

    def findings(self, kind=None):
        return [f for f in self.report.get("findings", []) if kind is None or f["kind"] == kind]

    def rule_lines(self):
        return [l[len("  rule: "):] for l in self.stderr.splitlines() if l.startswith("  rule: ")]

    def sarif_messages(self):
        runs = self.sarif.get("runs") or [{}]
        return [r["message"]["text"] for r in runs[0].get("results", [])]


def run(program, args=(), options=""):
    """PROGRAM (a BC_* variable) under the shim, in a temporary directory
    that is removed before returning."""
    workdir = scratch_dir("bstrcheck-verdict-")
    try:
        json_path = os.path.join(workdir, "report.json")
        sarif_path = os.path.join(workdir, "report.sarif")
        opts = [f"json_path={json_path}", f"sarif_path={sarif_path}"]
        if options:
            opts.append(options)
        env = dict(os.environ)
        env["BSTRCHECK_OPTIONS"] = ":".join(opts)
        env["LD_PRELOAD"] = os.environ["BC_SHIM"]
        # the working directory is the source tree: verdicts name files relative to it
        proc = subprocess.run([os.environ[program], *args], env=env, capture_output=True,
                              text=True, timeout=90)
        report = sarif = None
        if os.path.exists(json_path):
            with open(json_path, encoding="utf-8") as f:
                report = json.load(f)
        if os.path.exists(sarif_path):
            with open(sarif_path, encoding="utf-8") as f:
                sarif = json.load(f)
        return Run(proc, report, sarif)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def expect_verdict(t, scenario, kind, rule_id, text, options=""):
    """SCENARIO has exactly one finding, of KIND, with RULE_ID and TEXT."""
    r = run("BC_VERDICTS", [scenario], options)
    findings = r.findings()
    t.eq([f["kind"] for f in findings], [kind], f"{scenario}: one {kind} finding", r.stderr)
    if not findings:
        return r
    rule = findings[0].get("rule") or {}
    t.eq(rule.get("id"), rule_id, f"{scenario}: JSON rule id", r.stderr)
    t.eq(rule.get("text"), text, f"{scenario}: JSON rule text")
    t.eq(r.rule_lines(), [text], f"{scenario}: one 'rule:' line in the text report", r.stderr)
    messages = r.sarif_messages()
    t.ok(len(messages) == 1 and f"Ownership: {text}." in messages[0],
         f"{scenario}: the SARIF result's message has the verdict", messages)
    return r


def expect_none(t, scenario, kinds, options=""):
    """SCENARIO has findings of KINDS (in order), none with a verdict."""
    r = run("BC_VERDICTS", [scenario], options)
    findings = r.findings()
    t.eq([f["kind"] for f in findings], kinds, f"{scenario}: the findings are there", r.stderr)
    t.eq([f.get("rule") for f in findings], [None] * len(findings),
         f"{scenario}: no JSON rule", findings)
    t.eq(r.rule_lines(), [], f"{scenario}: no 'rule:' line in the text report", r.stderr)
    t.ok(not any("Ownership:" in m for m in r.sarif_messages()),
         f"{scenario}: no verdict in SARIF", r.sarif_messages())
    t.eq(r.status, 23, f"{scenario}: the findings still fail the run")


SRC = "tests/verdicts/verdicts.cpp"


def line_of(marker, nth=1):
    """The line number of the NTH line of verdicts.cpp containing MARKER."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verdicts.cpp")
    seen = 0
    with open(root, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if marker in line:
                seen += 1
                if seen == nth:
                    return number
    raise LookupError(marker)


# ------------------------------------------------------- verdicts

def case_in_param_double_free(t):
    at = line_of("    LogMessage(text);")
    expect_verdict(t, "in_param_double_free", "double_free", "in_param_freed_by_callee",
                   f"`LogMessage` freed an [in] BSTR that its caller `in_param_double_free` "
                   f"lent it at {SRC}:{at} (rule 1); the caller's free is the second one")


def case_in_param_use_after_free(t):
    at = line_of("    Consume(text);")
    expect_verdict(t, "in_param_use_after_free", "use_after_free", "in_param_freed_by_callee",
                   f"`Consume` freed an [in] BSTR that its caller `in_param_use_after_free` "
                   f"lent it at {SRC}:{at} (rule 1); the caller's use comes after that free")


def case_returned_then_freed(t):
    at = line_of("    source.GetTitle(&title);")
    expect_verdict(t, "returned_then_freed", "double_free", "returned_then_freed_by_callee",
                   f"`Source::GetTitle` freed the BSTR it returned to `returned_then_freed` at "
                   f"{SRC}:{at} (rule 3); the caller's free is the second one")


def case_returned_then_used(t):
    at = line_of("    BSTR label = MakeLabel();")
    expect_verdict(t, "returned_then_used", "use_after_free", "returned_then_freed_by_callee",
                   f"`MakeLabel` freed the BSTR it returned to `returned_then_used` at "
                   f"{SRC}:{at} (rule 3); the caller's use comes after that free")


def case_out_not_freed(t):
    at = line_of("    GetName(&name);")
    r = expect_verdict(t, "out_not_freed", "leak", "returned_not_freed_by_caller",
                       f"`GetName` returned this BSTR to `PrintName` ({SRC}:{at}), and the "
                       f"receiver must free it (rule 2)")
    t.eq(r.report.get("summary", {}).get("frees"), 1, "the temporary GetName freed is history")


def case_return_not_freed(t):
    at = line_of("    BSTR greeting = MakeGreeting();")
    expect_verdict(t, "return_not_freed", "leak", "returned_not_freed_by_caller",
                   f"`MakeGreeting` returned this BSTR to `return_not_freed` ({SRC}:{at}), and "
                   f"the receiver must free it (rule 2)")


def case_local_leak(t):
    at = line_of('    BSTR copy = SysAllocString(u"one two");')
    expect_verdict(t, "local_leak", "leak", "allocated_not_freed",
                   f"allocated and never freed by `CountWords` ({SRC}:{at})")


# ----------------------------------------------------- no verdict

def case_thread_double_free(t):
    expect_none(t, "thread_double_free", ["double_free"])


def case_recursion(t):
    expect_none(t, "recursion", ["double_free"])


def case_inlined_callee(t):
    expect_none(t, "inlined_callee", ["double_free"])


def case_callee_without_debug_info(t):
    expect_none(t, "callee_without_debug_info", ["double_free"])


def case_out_leaks_temporary(t):
    expect_none(t, "out_leaks_temporary", ["leak"])


def case_member_leak(t):
    expect_none(t, "member_leak", ["leak"])


def case_kept_in_global(t):
    expect_none(t, "kept_in_global", ["leak"])


def case_passed_on(t):
    expect_none(t, "passed_on", ["leak"])


def case_struct_out(t):
    expect_none(t, "struct_out", ["leak"])


def case_two_other_frames(t):
    expect_none(t, "two_other_frames", ["double_free"])


def case_cut_stacks(t):
    expect_none(t, "cut_stacks", ["leak"], "max_frames=3")


def case_no_history(t):
    expect_none(t, "no_history", ["leak"], "quarantine_kb=0")


# ---------------------------------------------------- the example

def case_example(t):
    r = run("BC_GREETER")
    src = "examples/greeter.cpp"
    rules = {}
    for f in r.findings():
        rules.setdefault(f["kind"], []).append((f.get("rule") or {}).get("id"))
    t.eq(rules, {"double_free": ["returned_then_freed_by_callee", "in_param_freed_by_callee"],
                 "leak": ["returned_not_freed_by_caller"]},
         "BUG 1 (leak): rule 2; BUG 2 (GetTitle): rule 3; BUG 3 (Log): rule 1", r.stderr)
    t.eq(r.rule_lines(), [
        f"`Greeter::GetTitle` freed the BSTR it returned to `main` at {src}:93 (rule 3); "
        "the caller's free is the second one",
        f"`Greeter::Log` freed an [in] BSTR that its caller `main` lent it at {src}:101 "
        "(rule 1); the caller's free is the second one",
        f"`Greeter::GetGreeting` returned this BSTR to `greet` ({src}:81), and the receiver "
        "must free it (rule 2)",
    ], "the text report's rule lines", r.stderr)


if __name__ == "__main__":
    run_cases(globals())
