"""A stand-in for the `gh` CLI in tests: records each call's argv and stdin, and answers
with the first canned response whose words all occur in the call (rules.json beside it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    argv = sys.argv[1:]
    stdin = sys.stdin.read() if "--input" in argv else None
    with (HERE / "calls.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv, "stdin": stdin}) + "\n")
    rules = json.loads((HERE / "rules.json").read_text(encoding="utf-8"))
    joined = " ".join(argv)
    for rule in rules:
        if all(word in joined for word in rule["contains"]):
            # Files the call leaves behind (`gh run download`), relative to its directory.
            for name, text in rule.get("files", {}).items():
                # `{dir}`: the folder the call names with --dir (gh run download).
                if "{dir}" in name and "--dir" in argv:
                    name = name.replace("{dir}", argv[argv.index("--dir") + 1])
                path = Path(name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            sys.stdout.write(rule["stdout"])
            sys.stderr.write(rule["stderr"])
            return int(rule["exit_code"])
    sys.stderr.write(f"fake gh: no canned response for: {joined}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
