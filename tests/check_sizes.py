#!/usr/bin/env python3
"""Fails when a source file is over MAX_FILE_LINES lines, or a function body over MAX_FUNCTION_LINES.

A function is found the way the code is written (clang-format, Google style): a definition opens
with a line ending in "{" at the indentation of its scope, and closes with a "}" at the same
indentation. Namespaces, classes, structs, enums and brace-initialised data tables (a line ending
in "= {" or "[] = {") are scopes or data, not functions; so is a function that only returns a table it builds once
(DATA_FUNCTIONS). Run by ctest as `source_sizes`;
`--selftest` shows both limits caught."""
import os
import re
import sys
import tempfile

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 100
TOPS = ("src", "cache", "resp", "http")
DATA_FUNCTIONS = ("const std::vector<Option>& options()",)  # builds the flag table (src/base/config.cpp)
NOT_FUNCTION = re.compile(r"^\s*(namespace|class|struct|union|enum|extern)\b|=\s*\{$|^\s*(\w+::)*\w+\s*\{$")


def functions(lines):
    """(name line, length) of each function body, by matching braces at the opening line's indentation."""
    out = []
    table_end = -1
    for i, line in enumerate(lines):
        stripped = line.rstrip()
        if i <= table_end:
            continue  # inside a data table (its lambdas are entries, not functions)
        if re.search(r"=\s*\{$", stripped):
            indent = len(line) - len(line.lstrip())
            for j in range(i + 1, len(lines)):
                if lines[j].startswith(" " * indent + "}") and len(lines[j]) - len(lines[j].lstrip()) == indent:
                    table_end = j
                    break
            continue
        if not stripped.endswith("{") or NOT_FUNCTION.search(stripped) or "(" not in stripped and ")" not in stripped:
            continue
        if stripped.lstrip().startswith(("if ", "for ", "while ", "switch ", "} else", "else", "do ", "case ", "try")):
            continue
        # The statement may start lines above (a signature over several lines, a constructor's
        # initialiser list): the closing brace is at the indentation of its first line.
        start = i
        while start > 0:
            prev = lines[start - 1].rstrip()
            if not prev or prev.endswith((";", "{", "}")) or prev.lstrip().startswith(("//", "#")):
                break
            start -= 1
        line = lines[start]
        indent = len(line) - len(line.lstrip())
        close = " " * indent + "}"
        for j in range(i + 1, len(lines)):
            if lines[j].rstrip().startswith(close) and len(lines[j]) - len(lines[j].lstrip()) == indent:
                out.append((start + 1, j - i - 1, lines[start].strip()))
                break
    return out


def check(root):
    problems = []
    for top in TOPS:
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith((".h", ".cpp")):
                    continue
                path = os.path.relpath(os.path.join(dirpath, name), root)
                with open(os.path.join(root, path), encoding="utf-8") as f:
                    lines = f.read().split("\n")
                if len(lines) - 1 > MAX_FILE_LINES:
                    problems.append(f"{path}: {len(lines) - 1} lines (at most {MAX_FILE_LINES})")
                for at, length, head in functions(lines):
                    if length > MAX_FUNCTION_LINES and not head.startswith(DATA_FUNCTIONS):
                        problems.append(f"{path}:{at}: a function of {length} lines (at most {MAX_FUNCTION_LINES}): {head}")
    return problems


def selftest():
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "src/x"))
        body = "\n".join("  f();" for _ in range(MAX_FUNCTION_LINES + 1))
        table = "\n".join("  {1, 2}," for _ in range(MAX_FUNCTION_LINES + 5))
        with open(os.path.join(d, "src/x/long.cpp"), "w", encoding="utf-8") as f:
            f.write("namespace a {\n\nvoid g(int x) {\n" + body + "\n}\n\nconstexpr T kTable[] = {\n" + table +
                    "\n};\n\n}  // namespace a\n")
        with open(os.path.join(d, "src/x/big.h"), "w", encoding="utf-8") as f:
            f.write("// x\n" * (MAX_FILE_LINES + 1))
        with open(os.path.join(d, "src/x/ok.cpp"), "w", encoding="utf-8") as f:
            f.write("void h() {\n  f();\n}\n")
        found = check(d)
        assert len(found) == 2, found
        assert any("long.cpp:3: a function of" in p for p in found), found
        assert any("big.h: 601 lines" in p for p in found), found
    print("selftest: a long function and a long file are caught; a long data table and a short function are not")
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--selftest":
        return selftest()
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = check(root)
    for p in problems:
        print(p)
    print(f"{len(problems)} file(s) or function(s) over the limits")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
