"""Reads `IMPL NAME SECONDS OPERATIONS` lines (run.sh's raw results) on stdin and prints
a Markdown table: the median [min-max] time per run of each workload under
CPython's asyncio, uvloop and the Rust port, and the ratios of the medians
(> 1: the Rust port is faster)."""

import statistics
import sys

IMPLS = [("asyncio", "CPython asyncio"), ("uvloop", "uvloop"), ("rust", "Rust asyncio")]
UNITS = {
    "sleep_gather": "task",
    "lock": "acquire",
    "semaphore": "acquire",
    "queue": "item",
    "echo": "round trip",
}


def ms(x):
    x *= 1e3
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def main():
    runs = {}
    ops = {}
    order = []
    for line in sys.stdin:
        parts = line.split()
        if len(parts) != 4 or line.startswith("#"):
            continue
        impl, name, secs = parts[0], parts[1], float(parts[2])
        ops[name] = int(parts[3])
        if name not in order:
            order.append(name)
        runs.setdefault((impl, name), []).append(secs)
    header = ["workload", "runs"] + [f"{title} (ms)" for _, title in IMPLS]
    header += ["asyncio / Rust", "uvloop / Rust", "Rust per op"]
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    for name in order:
        cells = [name]
        medians = {}
        counts = []
        for impl, _ in IMPLS:
            s = runs.get((impl, name))
            if not s:
                cells.append("–")
                continue
            medians[impl] = statistics.median(s)
            counts.append(len(s))
            cells.append(f"{ms(medians[impl])} [{ms(min(s))}–{ms(max(s))}]")
        cells.insert(1, str(min(counts)) if counts else "0")
        for impl in ("asyncio", "uvloop"):
            if impl in medians and "rust" in medians:
                r = medians[impl] / medians["rust"]
                cells.append(f"{r:.1f}×" if r < 10 else f"{r:.0f}×")
            else:
                cells.append("–")
        if "rust" in medians:
            per_op = medians["rust"] / ops[name] * 1e9
            cells.append(f"{per_op:.0f} ns/{UNITS.get(name, 'op')}")
        else:
            cells.append("–")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
