#!/usr/bin/env python3
"""Reads flowctl's JUnit XML with junitparser (a real consumer) and checks that it finds the
same counts as flowctl's closing line 'N passed, N failed'.

Usage: check-junit.py REPORT.xml OUTPUT.txt
"""
import re
import sys

from junitparser import JUnitXml

report, output = sys.argv[1], sys.argv[2]
xml = JUnitXml.fromfile(report)
total = failures = 0
for suite in xml:
    for case in suite:
        total += 1
        if not case.is_passed:
            failures += 1
with open(output, encoding="utf-8") as handle:
    lines = [line.strip() for line in handle if line.strip()]
match = re.fullmatch(r"(\d+) passed, (\d+) failed", lines[-1])
if not match:
    sys.exit(f"check-junit: the last line of {output} is not 'N passed, N failed': {lines[-1]!r}")
passed, failed = int(match.group(1)), int(match.group(2))
print(f"junitparser read {total} test cases, {failures} failed; flowctl said {passed} passed, {failed} failed")
if (total, failures) != (passed + failed, failed):
    sys.exit("check-junit: the JUnit report and flowctl disagree")
