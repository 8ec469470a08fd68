#!/usr/bin/env python3
"""Extracts the @rx patterns of OWASP CRS rule files into tests/regex_corpus/crs_rules.tsv
(pattern<TAB>source), the PCRE2 sample rule set. Usage: regex_crs_rules.py CRS_GIT_DIR > out.tsv
Only the pattern strings are taken (data, with attribution: repository@commit:file:line, rule id)."""
import re
import subprocess
import sys

d = sys.argv[1]
commit = subprocess.check_output(["git", "-C", d, "rev-parse", "HEAD"], text=True).strip()
files = [f for f in subprocess.check_output(["git", "-C", d, "ls-tree", "-r", "--name-only", "HEAD"],
                                            text=True).split() if re.match(r"rules/.*\.conf$", f)]
seen = set()
print("# pattern<TAB>source (bench/regex_crs_rules.py from coreruleset/coreruleset)")
for f in sorted(files):
    text = subprocess.check_output(["git", "-C", d, "show", f"HEAD:{f}"]).decode("utf-8", "replace")
    lines = text.splitlines()
    for n, line in enumerate(lines, 1):
        m = re.search(r'"@rx ((?:[^"\\]|\\.)*)"', line)
        if not m:
            continue
        # SecLang escapes '"' as '\"' inside the quoted operator argument.
        pattern = m.group(1).replace('\\"', '"')
        rule_id = ""
        for k in range(n - 1, min(n + 8, len(lines))):
            mid = re.search(r"id:(\d+)", lines[k])
            if mid:
                rule_id = mid.group(1)
                break
        if pattern in seen or "\t" in pattern or "%{" in pattern:
            continue  # macro-expanded patterns are not regexes until runtime
        seen.add(pattern)
        print(f"{pattern}\tcoreruleset/coreruleset@{commit[:12]}:{f}:{n} id:{rule_id}")
