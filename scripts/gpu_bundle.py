"""Pack what a lent GPU machine needs into `.device/bundle` (outside git); see bot/classify/gpu_bundle.py.

    python scripts/gpu_bundle.py [--layers 8]

Then name `.device` (and `.whl`, the wheels of what the machine lacks: pydantic and friends) in the device
run's `carry`, and run scripts/gpu_trials.py there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.classify.datasets import read_corpus  # noqa: E402
from bot.classify.e5_base import ensure_converted  # noqa: E402
from bot.classify.gpu_bundle import pack  # noqa: E402
from bot.classify.labelled_threads import load_threads  # noqa: E402
from bot.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / ".device" / "bundle")
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args()
    texts = [e.text for e in read_corpus(ROOT / "data" / "corpus.jsonl.gz")]
    for thread in load_threads(ROOT / "data" / "threads" / "labelled_threads.jsonl"):
        texts += [m.text for m in thread.messages]
    out = pack(args.out, ensure_converted(Settings().coach_cache_dir / "base"), texts, args.layers)
    print(f"{sum(f.stat().st_size for f in out.iterdir()) / 2**20:.1f} MiB in {out}")


if __name__ == "__main__":
    main()
