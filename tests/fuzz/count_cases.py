"""Count the cases of the fuzz suite and of the CLI error table (issue 13).

Run from the repository root::

    python tests/fuzz/count_cases.py

It runs the fast tier of the fuzz files and the CLI table once with hypothesis
statistics and prints, per file, the number of table cases (test items that are not
property tests), of property-test examples that ran (``passing`` examples summed over
hypothesis' phases; deterministic, as the default profile is derandomised) and their
sum. Any failing test makes it exit non-zero (then the counts are not a result).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

FILES = (
    "tests/fuzz/test_memories.py",
    "tests/fuzz/test_direct_memories.py",
    "tests/fuzz/test_structured_memories.py",
    "tests/fuzz/test_estimator_inputs.py",
    "tests/fuzz/test_ham_inputs.py",
    "tests/fuzz/test_coverage.py",
    "tests/fuzz/test_image_models.py",
    "tests/fuzz/test_task_networks.py",
    "tests/nn/test_layer_inputs.py",
    "tests/experiments/test_cli_errors.py",
)
_RESULT = re.compile(r"^(?:PASSED|FAILED|ERROR) (tests/[^:]+\.py)::")  # -rA summary
_BLOCK = re.compile(r"^(tests/[^:]+\.py)::.*:$")  # a hypothesis statistics block
_PASSING = re.compile(r"- (\d+) passing")


def main() -> int:
    command = [sys.executable, "-m", "pytest", *FILES, "-p", "no:cacheprovider", "-rA"]
    command += ["-o", "addopts=-m 'not slow'", "--hypothesis-show-statistics"]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    items: Counter[str] = Counter()
    properties: Counter[str] = Counter()
    examples: Counter[str] = Counter()
    current = None
    for line in run.stdout.splitlines():
        if match := _RESULT.match(line):
            items[match.group(1)] += 1
        elif match := _BLOCK.match(line):
            current = match.group(1)
            properties[current] += 1
        elif current and (match := _PASSING.search(line)):
            examples[current] += int(match.group(1))
    if run.returncode != 0:
        sys.stdout.write(run.stdout[-3000:])
        return run.returncode
    print("| file | table cases | property tests | examples run | cases |")
    print("|---|---:|---:|---:|---:|")
    totals = [0, 0, 0, 0]
    for path in FILES:
        row = [items[path] - properties[path], properties[path], examples[path]]
        row.append(row[0] + row[2])
        totals = [a + b for a, b in zip(totals, row, strict=True)]
        print(f"| `{path}` | " + " | ".join(map(str, row)) + " |")
    print("| total | " + " | ".join(map(str, totals)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
