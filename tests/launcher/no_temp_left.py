#!/usr/bin/env python3
"""Do the test suites clean up after themselves? Runs a few representative
cases of the integration and launcher suites, each with TMPDIR set to a
fresh, private directory (Python's tempfile and the launcher both honour
it), and checks that the directory is empty afterwards.

Usage: no_temp_left.py SCRIPT:CASE ...   (SCRIPT relative to tests/; prints TAP)
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    pairs = [a.split(":", 1) for a in sys.argv[1:]]
    tests_dir = os.path.join(os.environ["BC_SOURCE_ROOT"], "tests")
    count = failed = 0
    for script, case in pairs:
        private = tempfile.mkdtemp(prefix="bstrcheck-tmpcheck-")
        env = dict(os.environ, TMPDIR=private)
        proc = subprocess.run([sys.executable, os.path.join(tests_dir, script), case],
                              env=env, capture_output=True, text=True, timeout=300)
        count += 1
        passed = proc.returncode in (0, 77)
        print(f"{'ok' if passed else 'not ok'} {count} - {script} {case} runs"
              f"{' (skipped)' if proc.returncode == 77 else ''}")
        if not passed:
            failed += 1
            for line in (proc.stdout + proc.stderr).splitlines()[-20:]:
                print(f"# {line}")
        left = sorted(os.listdir(private))
        count += 1
        print(f"{'ok' if not left else 'not ok'} {count} - {script} {case} leaves "
              f"nothing in TMPDIR")
        if left:
            failed += 1
            print(f"# left behind: {' '.join(left[:20])}{' ...' if len(left) > 20 else ''}"
                  f" ({len(left)} entries)")
        shutil.rmtree(private, ignore_errors=True)
    print(f"1..{count}")
    sys.exit(1 if failed or count == 0 else 0)


if __name__ == "__main__":
    main()
