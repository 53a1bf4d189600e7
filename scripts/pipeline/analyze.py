#!/usr/bin/env python3
"""The example analysis step that `make run` wraps.

Reads the measurement CSVs in data/csvs, writes a per-condition summary to
data/csvs/summary.csv and a bar chart to data/results/summary.svg. Standard library
only, so it runs on a fresh machine; replace it with your own pipeline.
"""

import csv
import os
import statistics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CSVS = os.path.join(ROOT, "data", "csvs")
RESULTS = os.path.join(ROOT, "data", "results")


def read_measurements():
    values = {}
    for name in sorted(os.listdir(CSVS)):
        if not name.endswith(".csv") or name == "summary.csv":
            continue
        with open(os.path.join(CSVS, name), newline="") as stream:
            for row in csv.DictReader(stream):
                values.setdefault(row["condition"], []).append(float(row["speed_mm_s"]))
    return values


def write_summary(values):
    with open(os.path.join(CSVS, "summary.csv"), "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["condition", "n", "mean_speed_mm_s", "sd_speed_mm_s"])
        for condition, speeds in sorted(values.items()):
            writer.writerow([condition, len(speeds), f"{statistics.mean(speeds):.3f}",
                             f"{statistics.stdev(speeds) if len(speeds) > 1 else 0.0:.3f}"])


def write_chart(values):
    means = {condition: statistics.mean(speeds) for condition, speeds in sorted(values.items())}
    top = max(means.values(), default=1.0) or 1.0
    bars = []
    for index, (condition, mean) in enumerate(means.items()):
        height = 160 * mean / top
        x = 40 + index * 70
        bars.append(f'<rect x="{x}" y="{190 - height:.1f}" width="50" height="{height:.1f}" fill="#4a7ab5"/>'
                    f'<text x="{x + 25}" y="210" text-anchor="middle" font-size="12">{condition}</text>')
    width = 60 + 70 * len(means)
    with open(os.path.join(RESULTS, "summary.svg"), "w") as stream:
        stream.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="230">'
                     f'<text x="10" y="20" font-size="14">mean speed (mm/s) per condition</text>'
                     f'{"".join(bars)}</svg>\n')


def main():
    os.makedirs(RESULTS, exist_ok=True)
    values = read_measurements()
    if not values:
        raise SystemExit(f"no measurement CSVs in {CSVS}")
    write_summary(values)
    write_chart(values)
    print(f"analyzed {sum(map(len, values.values()))} measurements in {len(values)} conditions")


if __name__ == "__main__":
    main()
