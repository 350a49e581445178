#!/usr/bin/env python3
"""The launcher's --baseline: a finding's fingerprint (kind and function
names) survives a rebuild that moves the code and loads it elsewhere, and
changes with the leaking function; only new findings fail the run; the
merged JSON and SARIF reports say new / unchanged / fixed.

Usage: run.py CASE   (prints TAP)
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from run import Tap, run_cases, scratch_dir  # noqa: E402

WORK = scratch_dir("bstrcheck-baseline-")


def launch(program, arg, flags=()):
    """bstrcheck --json --sarif FLAGS -- PROGRAM ARG; (status, stderr,
    merged JSON, SARIF)."""
    n = len(os.listdir(WORK))
    json_path = os.path.join(WORK, f"merged{n}.json")
    sarif_path = os.path.join(WORK, f"merged{n}.sarif")
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("BSTRCHECK_OPTIONS", None)
    env["TMPDIR"] = WORK
    proc = subprocess.run([os.environ["BC_LAUNCHER"], f"--json={json_path}",
                           f"--sarif={sarif_path}", *flags, "--", os.environ[program], arg],
                          env=env, capture_output=True, text=True, timeout=90)
    report = sarif = None
    if os.path.exists(json_path):
        with open(json_path, encoding="utf-8") as f:
            report = json.load(f)
    if os.path.exists(sarif_path):
        with open(sarif_path, encoding="utf-8") as f:
            sarif = json.load(f)
    return proc.returncode, proc.stderr, report, json_path, sarif


def findings(report):
    return [f for p in (report or {}).get("processes", []) for f in p.get("findings", [])]


def results(sarif):
    return ((sarif or {}).get("runs") or [{}])[0].get("results", [])


def frame0(finding):
    return finding["stacks"]["alloc"][0]


def baseline_line(stderr):
    lines = [l for l in stderr.splitlines() if l.startswith("bstrcheck: baseline ")]
    return lines[0] if len(lines) == 1 else None


def case_stable_across_builds(t):
    status, stderr, base, base_path, _ = launch("BC_LEAKY", "config")
    t.eq(status, 23, "the first build's leak fails the run", stderr)
    status, stderr, cur, _, sarif = launch("BC_LEAKY_MOVED", "config", [f"--baseline={base_path}"])
    old, new = findings(base), findings(cur)
    t.ok(len(old) == 1 and len(new) == 1, "one leak in each run", (old, new))
    if len(old) != 1 or len(new) != 1:
        return
    a, b = frame0(old[0]), frame0(new[0])
    t.eq((a["function"], b["function"]), ("load_config", "load_config"), "the same function")
    t.ok(a["offset"] != b["offset"], "at another offset in the rebuilt program", (a, b))
    t.ok(a["pc"] != b["pc"] and not b["module"].endswith("baseline-leaky"),
         "and another load address, in another file", (a, b))
    t.eq(status, 0, "the rebuilt program's unchanged leak passes the gate", stderr)
    t.ok(baseline_line(stderr) is not None and
         baseline_line(stderr).endswith(": 0 new, 1 unchanged, 0 fixed finding(s)"),
         "the launcher says 0 new, 1 unchanged, 0 fixed", stderr)
    t.eq(new[0].get("baseline"), "unchanged", 'JSON: "baseline": "unchanged"')
    t.eq(cur.get("fixed"), [], "nothing fixed")
    t.eq(cur.get("baseline", {}).get("unchanged"), 1, "JSON baseline counts")
    res = results(sarif)
    t.eq([r.get("baselineState") for r in res], ["unchanged"], "SARIF baselineState", res)
    t.ok(res and res[0].get("partialFingerprints", {}).get("bstrcheckFingerprint/v1"),
         "SARIF partialFingerprints", res)


def case_new_and_fixed(t):
    _, _, base, base_path, _ = launch("BC_LEAKY", "config")
    status, stderr, cur, _, sarif = launch("BC_LEAKY_MOVED", "theme", [f"--baseline={base_path}"])
    t.eq(status, 23, "a leak in another function is new: it fails the run", stderr)
    t.ok(baseline_line(stderr) is not None and
         baseline_line(stderr).startswith(f"bstrcheck: baseline {base_path}: 1 new, 0 unchanged, 1 fixed"),
         "1 new, 0 unchanged, 1 fixed", stderr)
    new = findings(cur)
    t.eq([(frame0(f)["function"], f.get("baseline")) for f in new], [("load_theme", "new")],
         'JSON: the load_theme leak is "new"')
    fixed = cur.get("fixed", [])
    t.eq([(frame0(f)["function"], f.get("baseline")) for f in fixed], [("load_config", "fixed")],
         "JSON: the load_config leak is listed as fixed")
    t.ok(new and fixed and new[0]["fingerprint"] != fixed[0]["fingerprint"],
         "the fingerprint changed with the leaking function")
    res = results(sarif)
    t.eq(sorted(r.get("baselineState") for r in res), ["absent", "new"],
         "SARIF: a new result and an absent one", res)
    validate_sarif(t, sarif)
    status, stderr, cur, _, _ = launch("BC_LEAKY_MOVED", "both", [f"--baseline={base_path}"])
    t.eq(sorted((frame0(f)["function"], f.get("baseline")) for f in findings(cur)),
         [("load_config", "unchanged"), ("load_theme", "new")], "both: one unchanged, one new")
    t.eq(status, 23, "the new one fails the run")


def validate_sarif(t, sarif):
    """Against the integration suite's subset of the SARIF 2.1.0 schema,
    with result.baselineState added as the official schema has it."""
    try:
        import jsonschema
    except ImportError:
        t.ok(True, "# SKIP python3-jsonschema is not installed")
        return
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "integration", "sarif-2.1.0-subset.schema.json"),
              encoding="utf-8") as f:
        schema = json.load(f)
    schema["definitions"]["result"]["properties"]["baselineState"] = {"enum": ["new", "unchanged", "updated", "absent"]}
    try:
        jsonschema.validate(sarif, schema)
        t.ok(True, "the SARIF log is valid")
    except jsonschema.ValidationError as e:
        t.ok(False, "the SARIF log is valid", e)


def case_exitcode(t):
    _, _, _, base_path, _ = launch("BC_LEAKY", "config")
    status, stderr, _, _, _ = launch("BC_LEAKY", "theme", ["--exitcode=7", f"--baseline={base_path}"])
    t.eq(status, 7, "--exitcode applies to new findings", stderr)
    status, stderr, _, _, _ = launch("BC_LEAKY", "config", ["--exitcode=7", f"--baseline={base_path}"])
    t.eq(status, 0, "and not to unchanged ones", stderr)


def case_bad_baseline(t):
    status, stderr, _, _, _ = launch("BC_LEAKY", "config", [f"--baseline={WORK}/missing.json"])
    t.eq(status, 2, "a missing baseline: usage error")
    t.ok(len(stderr.strip().splitlines()) == 1 and "cannot read the baseline" in stderr,
         "one line naming it", stderr)
    bad = os.path.join(WORK, "bad.json")
    with open(bad, "w", encoding="utf-8") as f:
        f.write('{"tool": "other"}')
    status, stderr, _, _, _ = launch("BC_LEAKY", "config", [f"--baseline={bad}"])
    t.eq(status, 2, "not a bstrcheck report: usage error")
    t.ok("is not a bstrcheck JSON report" in stderr, "one line saying so", stderr)
    status, stderr, _, _, _ = launch("BC_LEAKY", "config", ["--baseline="])
    t.eq(status, 2, "--baseline= without a file: usage error", stderr)


def case_shim_and_launcher_agree(t):
    """The shim's JSON "fingerprint" and the launcher's (from the JSON
    frames) are the same computation."""
    _, _, report, _, sarif = launch("BC_LEAKY", "both")
    shim = sorted(f.get("fingerprint") for f in findings(report))
    launcher = sorted(r["partialFingerprints"]["bstrcheckFingerprint/v1"] for r in results(sarif))
    t.eq(len(shim), 2, "two findings")
    t.eq(shim, launcher, "the same fingerprints")
    t.ok(all(re.fullmatch(r"[0-9a-f]{16}", f or "") for f in shim), "16 hex digits", shim)


if __name__ == "__main__":
    try:
        run_cases(globals())
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
