"""Fine-tune and judge several recipes at once on a lent GPU machine (see gpu_bundle.py for what travels).

    python3 scripts/gpu_trials.py --bundle .device/bundle --out $OUT --workers 4 ref lora16 ...

Each trial is `coach train`'s own code (train_version, then evaluate_version with pick=True on the
out-of-distribution suite, torch) with `device="cuda"`; only the base comes from the bundle. The labelled
threads are judged afterwards, here, with the product's language detector. Prints one summary line per
trial and writes summary.json plus one tar per trial (the version folder, vocab mapped back to full ids).
"""
from __future__ import annotations

import argparse
import json
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the pairs of data/trials plus the translated chat lines (data/handwritten, and stop 27's Estonian ones)
CHAT_PAIRS = ("data/trials", "data/handwritten", "data/trials/et_chat")
V13 = {"trained_layers": 2, "adapter_rank": 0, "epochs": 3}  # v13's recipe (TrainOptions' defaults are v14's)
TRIALS: dict[str, dict] = {
    "ref": V13,
    "lora16": V13 | {"adapter_rank": 16},
    "lora16e5": V13 | {"adapter_rank": 16, "epochs": 5},  # served as v14
    "lora32": V13 | {"adapter_rank": 32},
    "lora16t0": V13 | {"trained_layers": 0, "adapter_rank": 16},
    "lora16s14": V13 | {"adapter_rank": 16, "seed": 14},
    "lora16lb": V13 | {"adapter_rank": 16, "language_balance": 0.5},
    "lora16l8": V13 | {"layers": 8, "adapter_rank": 16},
    # stop 21: v14's recipe with the agreement loss on data/trials' pairs (PAIRS): all of them (ag13's pairs), or
    # without those whose original is labelled angry (ag14 on CPU: calmer Russian, not better; model card)
    "lora16e5ag": V13 | {"adapter_rank": 16, "epochs": 5, "agreement": 1.0},
    "lora16e5agna": V13 | {"adapter_rank": 16, "epochs": 5, "agreement": 1.0, "skip_tones": ("angry",)},
    "lora16e5agp": V13 | {"adapter_rank": 16, "epochs": 5, "agreement": 1.0, "agreement_heads": ("polarity",)},
    # stop 23: every pair and head, the tone head's abusive column left out (ag13f/ag14f on CPU; model card)
    "lora16e5agf": V13 | {"adapter_rank": 16, "epochs": 5, "agreement": 1.0, "agreement_free": ("tone:abusive",)},
    # ... and with the loss kept out of the adapters (ag13f's gain held on v13's recipe, whose lower layers are frozen)
    "lora16e5agft": V13 | {"adapter_rank": 16, "epochs": 5, "agreement": 1.0, "agreement_free": ("tone:abusive",),
                           "agreement_top_only": True},
    # stop 24: go on from the served v14 (its adapters frozen, lower layers cached) for 2 epochs with the agreement
    # loss on the complaint and polarity heads (go14cp on CPU, model card), at weight 1 and 0.5, and with the abusive
    # anchor, for seeds
    "go14cp": {"start_from": str(ROOT / "models" / "v14"), "epochs": 2, "agreement": 1.0,
               "agreement_heads": ("complaint", "polarity")},
    "go14cph": {"start_from": str(ROOT / "models" / "v14"), "epochs": 2, "agreement": 0.5,
                "agreement_heads": ("complaint", "polarity")},
    "go14cpa": {"start_from": str(ROOT / "models" / "v14"), "epochs": 2, "agreement": 1.0,
                "agreement_heads": ("complaint", "polarity"), "anchor_abusive": 2.0},  # the anchor (go14cpa)
    # v15, the served version (stop 25): go14cpa at anchor weight 5, on the corpus with the staff-directed abuse lines
    "v15": {"start_from": str(ROOT / "models" / "v14"), "epochs": 2, "agreement": 1.0,
            "agreement_heads": ("complaint", "polarity"), "anchor_abusive": 5.0},
    # stop 28: the alignment loss (pooled embeddings of a pair pulled together, `train --align`) on v15's recipe,
    # with data/trials' pairs (al16) and with the chat-line pairs too (al16c): both noise or a slide on CPU (model
    # card); and on v14's whole recipe, where the adapters let it reach the lower layers, for seeds
    "al16": {"start_from": str(ROOT / "models" / "v14"), "epochs": 2, "agreement": 1.0, "align": 1.0,
             "agreement_heads": ("complaint", "polarity"), "anchor_abusive": 5.0},
    "al16c": {"start_from": str(ROOT / "models" / "v14"), "epochs": 2, "agreement": 1.0, "align": 1.0,
              "agreement_heads": ("complaint", "polarity"), "anchor_abusive": 5.0, "pair_dirs": CHAT_PAIRS},
    "lora16e5al": V13 | {"adapter_rank": 16, "epochs": 5, "align": 1.0, "pair_dirs": CHAT_PAIRS},
    "smoke": {"layers": 2, "trained_layers": 1, "adapter_rank": 4, "epochs": 1, "max_rows": 300},  # a dry run
}


PAIRS = ("data/trials",)  # where a recipe with a pair loss (agreement, align) reads pairs, unless it names pair_dirs


def run_trial(name: str, base: str, out: str, device: str) -> dict:
    import numpy as np
    import torch
    from safetensors.numpy import load_file, save_file

    from bot.classify.datasets import pairs_clear_of_validation, parallel_pairs, read_corpus
    from bot.classify.gpu_bundle import full_ids
    from bot.classify.train import TrainOptions, train_version
    from bot.classify.version import WEIGHTS

    torch.set_num_threads(2)
    started = time.perf_counter()
    examples = read_corpus(ROOT / "data" / "corpus.jsonl.gz")
    recipe, _, seed = name.partition("@")  # "ref@14": the ref recipe with seed 14
    recipe_options = dict(TRIALS[recipe])
    skip_tones = recipe_options.pop("skip_tones", ())
    pair_dirs = recipe_options.pop("pair_dirs", PAIRS)
    options = TrainOptions(version=name.replace("@", "-s"), device=device, progress=False,
                           **(recipe_options | ({"seed": int(seed)} if seed else {})))
    pairs = [pair for folder in pair_dirs for pair in parallel_pairs(ROOT / folder, skip_tones)] \
        if options.uses_pairs else []
    pairs = pairs_clear_of_validation(pairs, examples)
    directory = train_version(examples, Path(out), Path(base), options, pairs)
    trained = time.perf_counter() - started
    state = load_file(str(directory / WEIGHTS))  # vocab.kept: bundle ids -> the full vocabulary's ids
    state["vocab.kept"] = full_ids(Path(base), state["vocab.kept"]).astype(np.int32)
    save_file(state, str(directory / WEIGHTS), metadata={"version": name})
    return judge(directory, examples, base, device, started, trained)


def judge(directory: Path, examples, base: str, device: str, started: float, trained: float) -> dict:
    from bot.classify.e5_base import load_tokenizer
    from bot.classify.evaluate import evaluate_version
    from bot.classify.inputs import InputEncoder
    from bot.classify.modeling import RecoveryModel
    from bot.classify.torch_backend import TorchClassifier
    from bot.classify.version import read_config

    config = read_config(directory)
    model = RecoveryModel.load_version(directory, Path(base), config)  # adapters merged, as serving does
    classifier = TorchClassifier(model.to(device), InputEncoder(load_tokenizer(Path(base), config.max_tokens)))
    report = evaluate_version(directory, examples, classifier, "torch", pick=True)
    return {"name": directory.name, "train_s": round(trained, 1), "total_s": round(time.perf_counter() - started, 1),
            "summary": report["summary"], "product": report["product"], "gaps": report["language_gaps"],
            "picked": report["picked"], "groups": {g: {k: round(v, 4) for k, v in d.items() if "f1" in k}
                                                   for g, d in report["groups"].items()}}


def make_soup(name: str, runs: list[str], base: str, work: Path, device: str) -> dict:
    from bot.classify.datasets import read_corpus
    from bot.classify.soup import soup_version

    started = time.perf_counter()
    examples = read_corpus(ROOT / "data" / "corpus.jsonl.gz")
    directory = soup_version([work / "models" / r.replace("@", "-s") for r in runs], work / "models", name, Path(base),
                             examples, device=device)
    return judge(directory, examples, base, device, started, 0.0)


def main() -> None:
    import multiprocessing as mp

    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", type=Path, default=ROOT / ".device" / "bundle")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/trials"))
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tar", nargs="*", default=None, help="only these results come back as tars")
    parser.add_argument("--soup", action="append", default=[], help="NAME=trial,trial,... averaged after training")
    parser.add_argument("trials", nargs="+", help="recipe names (TRIALS), optionally @seed")
    args = parser.parse_args()
    from bot.classify.gpu_bundle import unpack

    base = unpack(args.bundle, args.work / "base")
    results: list[dict] = []

    def collect(futures: dict) -> None:
        for name, future in futures.items():
            try:
                result = future.result()
            except Exception as exc:  # one failed recipe must not lose the others
                result = {"name": name, "error": repr(exc)}
            results.append(result)
            print(json.dumps({k: result.get(k) for k in ("name", "train_s", "summary", "product", "gaps", "error")}),
                  flush=True)
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "summary.json").write_text(json.dumps(results, indent=1) + "\n")
            if "error" not in result and (args.tar is None or name in args.tar):
                folder = result["name"]
                with tarfile.open(args.out / f"{folder}.tar", "w") as tar:
                    tar.add(args.work / "models" / folder, arcname=folder)

    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
        collect({name: pool.submit(run_trial, name, str(base), str(args.work / "models"), args.device)
                 for name in args.trials})
        soups = dict(spec.split("=", 1) for spec in args.soup)
        collect({name: pool.submit(make_soup, name, runs.split(","), str(base), args.work, args.device)
                 for name, runs in soups.items()})


if __name__ == "__main__":
    main()
