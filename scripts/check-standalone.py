#!/usr/bin/env python3
"""Fails (exit 1) if the repository cites the design inputs that do not ship with it.

ringfence was specified from a folder of design inputs (STATS.md, DESIGN.md, STYLE.md in
../shared, i.e. /work/shared on the development machine) that is not part of the repository.
Everything the product relies on from them lives in docs/ (the gate's specification in
docs/gate.md), and code comments and docs cite docs/ only. This check keeps it so.

The rule, per line of every text file under the folders below (and the top-level files):
  * never: the names STATS.md, DESIGN.md, STYLE.md, or STATS / DESIGN / STYLE as a bare
    citation ("STATS §3.4", "DESIGN:"); these uppercase words have no other use in the tree;
  * never: a path into the design folder, `../shared` or `/work/shared`;
  * the one exception: test code (`*_test.cc`, `*_test.h`, or any file under tests/) may read a
    file from the design folder at run time, so there a match inside a string literal on a code
    line is allowed. A comment in a test is a citation like any other and is not.
Each violation is printed as file:line: text.

  python3 scripts/check-standalone.py [PATH...]   (relative to the repository; default: all of it)
"""
import os
import re
import sys

ROOTS = ["src", "apps", "docs", "bench", "fuzz", "scripts", "examples", "samples", "include",
         "tools", "tests", "cmake", ".ci"]
TOP_FILES = ["README.md", "CMakeLists.txt", "CMakePresets.json", ".clang-format", ".gitignore"]
SELF = os.path.join("scripts", "check-standalone.py")

CITATION = re.compile(r"\b(?:STATS|DESIGN|STYLE)(?:\.md)?\b|(?:\.\./|/work/)shared\b")
COMMENT_START = ("//", "/*", "*", "#")


def is_test_file(rel):
    parts = rel.split(os.sep)
    name = parts[-1]
    return parts[0] == "tests" or name.endswith(("_test.cc", "_test.h"))


def inside_string_literal(line, pos):
    """True when `pos` lies between double quotes on a line of code (not a comment line)."""
    if line.lstrip().startswith(COMMENT_START):
        return False
    before = line[:pos]
    comment = before.find("//")
    if comment != -1 and before[:comment].count('"') % 2 == 0:
        return False  # the match is in a trailing comment
    return before.replace('\\"', "").count('"') % 2 == 1


def check_file(path, rel):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        return [f"{rel}: cannot read ({e})"]
    if b"\0" in data:
        return []  # binary
    text = data.decode("utf-8", errors="replace")
    test = is_test_file(rel)
    bad = []
    for n, line in enumerate(text.splitlines(), 1):
        for m in CITATION.finditer(line):
            if test and inside_string_literal(line, m.start()):
                continue
            bad.append(f"{rel}:{n}: {line.strip()}")
            break
    return bad


def files_under(repo, paths):
    for p in paths:
        full = os.path.join(repo, p)
        if os.path.isfile(full):
            yield full
        for d, dirs, names in os.walk(full):
            dirs[:] = sorted(x for x in dirs if x not in (".git", "node_modules"))
            for name in sorted(names):
                yield os.path.join(d, name)


def main():
    repo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    paths = sys.argv[1:] or ROOTS + TOP_FILES
    bad, count = [], 0
    for path in files_under(repo, paths):
        rel = os.path.relpath(os.path.abspath(path), repo)
        if rel == SELF:
            continue
        count += 1
        bad += check_file(path, rel)
    for line in bad:
        print(line)
    if bad:
        print(f"check-standalone: {len(bad)} line(s) cite STATS.md/DESIGN.md/STYLE.md or the "
              "design folder outside docs/; cite the docs/ section instead (see this script's "
              "docstring for the rule)")
        return 1
    print(f"check-standalone: {count} files cite docs/ only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
