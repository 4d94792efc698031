"""Hands found on the small full-body subjects of ../shared/media under config overrides (issue 24 item 4).

    PYTHONPATH=src .venv/bin/python tools/hand_recall.py [--set key=value ...]

Runs `bench/estimator.py`'s small-subject comparison (ours vs MediaPipe Holistic, smoothing off) with
the shipped config changed by each `--set` (e.g. `--set hand_presence=0.3`), and prints its figures
as one JSON line per clip: among the frames whose Holistic body sees a wrist, the fraction in which
each finds that hand (hands_found, reference_hands_found), and body jitter.  Skipped (one line
saying so) when ../shared/media is absent.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import estimator as bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], help="config override key=value (YAML value)")
    args = parser.parse_args()
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    for name, key in bench.SMALL.items():
        if not (bench.SCENES / name).exists():
            print(json.dumps({"clip": name, "skipped": f"{bench.SCENES / name} not found"}))
            continue
        figures = bench.small_subject(name, **overrides)
        print(json.dumps({"clip": name, "set": overrides,
                          **{k.removeprefix(f"small_{key}_"): v for k, v in figures.items()}}), flush=True)


if __name__ == "__main__":
    main()
