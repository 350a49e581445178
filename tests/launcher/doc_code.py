#!/usr/bin/env python3
"""Copy the first ```c block of a Markdown file into a C file, so the test
suite builds the documentation's example as it is written.

Usage: doc_code.py DOC.md OUT.c
"""
import sys


def main():
    doc, out = sys.argv[1], sys.argv[2]
    lines, inside, first = [], False, 0
    with open(doc, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not inside and line.strip() == "```c":
                inside, first = True, number + 1
            elif inside and line.strip() == "```":
                break
            elif inside:
                lines.append(line)
    if not lines:
        sys.exit(f"{doc}: no ```c block")
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"/* Generated from {doc} by doc_code.py: edit the document. */\n")
        quoted = doc.replace("\\", "\\\\").replace('"', '\\"')
        f.write(f'#line {first} "{quoted}"\n')  # stacks point into the document
        f.writelines(lines)


if __name__ == "__main__":
    main()
