"""What plugin discovery costs on top of importing the same modules directly.

    python benchmarks/plugin_overhead.py [--repeat 5]

Each measurement is a fresh interpreter (cold imports), median of --repeat runs. Prints the
reference (plain imports of every built-in module), entry-point discovery + hooks, the CLI's
`list-plugins --json`, and the ratio of discovery to the reference.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import statistics
import subprocess
import sys
import time


def timed(code: str, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    modules = [ep.value for ep in md.entry_points(group="ssl_ecg")]
    plain = timed("; ".join(f"import {m}" for m in modules), args.repeat)
    discovery = timed("from ssl_ecg.registry import Registry; Registry.load()", args.repeat)
    cli = timed("import sys; sys.argv=['ssl-ecg','list-plugins','--json']; "
                "from ssl_ecg.cli import main; main()", args.repeat)  # fmt: skip
    print(f"plugins: {len(modules)} entry points")
    print(f"reference: import every built-in module directly   {plain:6.3f} s")
    print(f"entry-point discovery + register_* hooks            {discovery:6.3f} s")
    print(f"ssl-ecg list-plugins --json                         {cli:6.3f} s")
    print(f"ratio discovery / reference                         {discovery / plain:6.3f}x")


if __name__ == "__main__":
    main()
