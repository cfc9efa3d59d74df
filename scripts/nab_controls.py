#!/usr/bin/env python3
"""Control detectors for the NAB-style SKAB score: they never read a value.

  nab_controls.py fixed SECONDS FILE   one alert SECONDS after the file's first timestamp
  nab_controls.py random SEED FILE     one alert on a row drawn uniformly after NAB's probation

Each prints the alert as a JSON line with `ts` and `row`, the shape the scorer reads. They
show what a score on a corpus is worth before anyone reads it as detection quality: a
detector that knows nothing but when SKAB's experiments usually go wrong.
"""
import csv
import datetime
import json
import random
import sys
import zlib


def main():
    mode, arg, path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    if not rows:
        return
    if mode == "fixed":
        parse = lambda ts: datetime.datetime.fromisoformat(ts)  # noqa: E731
        start = parse(rows[0][0])
        due = start + datetime.timedelta(seconds=float(arg))
        row = next((i for i, r in enumerate(rows) if parse(r[0]) >= due), None)
    elif mode == "random":
        # Seeded by the file's name too, so that a run is repeatable and files differ.
        rng = random.Random(zlib.crc32(path.encode()) + int(arg))
        probation = min(int(0.15 * len(rows)), 750)
        row = rng.randrange(probation, len(rows))
    else:
        sys.exit("mode must be `fixed` or `random`")
    if row is not None:
        print(json.dumps({"ts": rows[row][0], "row": row}))


if __name__ == "__main__":
    main()
