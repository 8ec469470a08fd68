#!/usr/bin/env python3
"""Fails (exit 1) if a C++ function outside tests is longer than --max lines (default 150).

The project's rule (HELPERS.md, issue 9): no function over ~150 lines outside tests. Scans
src/, apps/, examples/, tools/ and bench/ for .cc and .h files, except tests (*_test.cc, tests/,
testing/ folders) and fuzz targets. A function is a brace block opened at namespace or class scope
after a closing parenthesis (a lambda at namespace scope counts too); its length is from the line
of its opening brace to the line of its closing one. Comments, string and character literals
(raw strings included) are blanked first, so braces inside them do not count.

Known exceptions, each to be split by the folder's owner, are listed in
scripts/function-length-allowlist.txt ("PATH FUNCTION" per line, # comments); an entry that is no
longer over the limit fails the check too, so the list only shrinks.

  python3 scripts/check-function-length.py [--max N] [PATH...]
"""
import argparse
import os
import re
import sys

ROOTS = ["src", "apps", "examples", "tools", "bench"]


def blank(text):
    """`text` with comments and literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and i + 1 < n and text[i + 1] == '"' and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")) or (
                c in "uUL8" and re.match(r'(?:u8|u|U|L)R"', text[i:i + 4]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_"))):
            m = re.match(r'(?:u8|u|U|L)?R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i + m.end())
            end = n if end < 0 else end + len(m.group(1)) + 2
            out.append(re.sub(r"[^\n]", " ", text[i:end]))
            i = end
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):  # 1'000 is a digit separator
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(text):
    """Yields (name, first_line, last_line) of each function body in `text`."""
    code = blank(text)
    stack = []  # (kind, start_line, name)
    line = 1
    stmt_start = 0
    for i, c in enumerate(code):
        if c == "\n":
            line += 1
        elif c in ";":
            stmt_start = i + 1
        elif c == "{":
            head = code[stmt_start:i]
            in_function = any(k == "func" for k, _, _ in stack)
            if in_function:
                kind = "other"
            elif re.search(r"\bnamespace\b", head) or re.search(r'\bextern\s*$', head):
                kind = "scope"
            elif re.search(r"\b(class|struct|union|enum)\b", head) and not re.search(r"\)\s*(const|override|final|noexcept|\s)*$", head):
                kind = "scope"
            elif re.search(r"\)[^()]*$", head) and not re.search(r"=\s*$", head):
                kind = "func"
            else:
                kind = "other"
            name = ""
            if kind == "func":
                m = re.findall(r"([A-Za-z_~][\w:~<>]*)\s*\(", head)
                name = m[0] if m else "?"
            stack.append((kind, line, name))
            stmt_start = i + 1
        elif c == "}":
            if stack:
                kind, start, name = stack.pop()
                if kind == "func":
                    yield name, start, line
            stmt_start = i + 1


def is_test(path):
    base = os.path.basename(path)
    parts = path.replace("\\", "/").split("/")
    return (base.endswith("_test.cc") or base.endswith("_test.h") or "tests" in parts or
            "testing" in parts or "fuzz" in parts or "test_consumer" in parts or
            base.endswith("_testing.h"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max", type=int, default=150)
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args()
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    files = []
    for p in args.paths or [os.path.join(root, r) for r in ROOTS]:
        if os.path.isfile(p):
            files.append(p)
            continue
        for d, _, names in os.walk(p):
            files += [os.path.join(d, f) for f in names if f.endswith((".cc", ".h"))]
    allowed = set()
    allow_file = os.path.join(root, "scripts", "function-length-allowlist.txt")
    if os.path.exists(allow_file) and not args.paths:
        with open(allow_file, encoding="utf-8") as fh:
            for ln in fh:
                ln = ln.split("#", 1)[0].strip()
                if ln:
                    path, name = ln.split()
                    allowed.add((path, name))
    seen = set()
    bad = 0
    for f in sorted(files):
        rel = os.path.relpath(f, root)
        if is_test(rel):
            continue
        with open(f, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for name, first, last in functions(text):
            n = last - first + 1
            if n > args.max and (rel, name) in allowed:
                seen.add((rel, name))
            elif n > args.max:
                print(f"{rel}:{first}: function {name} is {n} lines (limit {args.max})")
                bad += 1
    for path, name in sorted(allowed - seen):
        print(f"{path}: {name} is listed in scripts/function-length-allowlist.txt but is not over "
              f"{args.max} lines (any more): remove the entry")
        bad += 1
    if bad:
        print(f"check-function-length: {bad} function(s) over {args.max} lines")
        return 1
    print(f"check-function-length: no function over {args.max} lines in {len(files)} files"
          + (f" ({len(seen)} listed exception(s))" if seen else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
