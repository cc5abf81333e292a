"""Write deploy/aws/user-data.sh into the launch template's UserData in deploy/aws/lookslike.yaml.

The template carries the script verbatim (a YAML literal block after the marker line), so a stack is
made from the one file with nothing fetched at boot, while the script stays a file of its own that
shellcheck reads. `python3 deploy/aws/render.py` rewrites the block; `--check` fails when it is stale
(`make lint-deploy`). The script's first line (#!) is left out: the template puts it before the
parameters' export lines.

Only the standard library: it runs before any venv exists.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE = os.path.join(HERE, "lookslike.yaml")
SCRIPT = os.path.join(HERE, "user-data.sh")
MARKER = "- |  # deploy/aws/user-data.sh from its second line on"


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def rendered(template: str, script: str) -> str:
    """The template with the literal block after the marker replaced by the script (its first line dropped)."""
    lines = template.splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if line.strip().startswith(MARKER)]
    if len(marks) != 1:
        raise SystemExit(f"{TEMPLATE}: expected one line starting with {MARKER!r}, found {len(marks)}")
    start = marks[0]
    block = indent_of(lines[start]) + 2
    end = start + 1  # one past the old block's last non-blank line
    for i in range(start + 1, len(lines)):
        if lines[i].strip():
            if indent_of(lines[i]) < block:
                break
            end = i + 1
    body = script.splitlines()[1:]
    if "\t" in "".join(body):
        raise SystemExit(f"{SCRIPT}: tabs would not survive the YAML block; indent with spaces")
    new = [(" " * block + line if line.strip() else "") + "\n" for line in body]
    return "".join(lines[:start + 1] + new + lines[end:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the template's copy is not current")
    args = parser.parse_args()
    with open(TEMPLATE, encoding="utf-8") as f:
        template = f.read()
    with open(SCRIPT, encoding="utf-8") as f:
        script = f.read()
    new = rendered(template, script)
    if args.check:
        if new != template:
            print(f"{TEMPLATE} does not hold the current {SCRIPT}: run `make deploy-template`", file=sys.stderr)
            return 1
        print(f"{os.path.relpath(TEMPLATE)} holds {os.path.relpath(SCRIPT)} as it is")
        return 0
    if new != template:
        with open(TEMPLATE, "w", encoding="utf-8") as f:
            f.write(new)
        print(f"wrote {os.path.relpath(SCRIPT)} into {os.path.relpath(TEMPLATE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
