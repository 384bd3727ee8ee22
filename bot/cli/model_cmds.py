"""Model commands: data build, train, eval."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from bot.cli.common import app, fail
from bot.settings import PROJECT_ROOT
from rich.table import Table

from bot.cli.common import CACHE_DIR, DEFAULT_CORPUS, DEFAULT_MODELS

data_app = typer.Typer(help="Build the training corpus.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("build")
def data_build(
    shared: Annotated[Path, typer.Option(help="the public datasets folder")] = PROJECT_ROOT.parent / "shared" / "data",
    handwritten: Annotated[Path, typer.Option(help="our own labelled lines")] = PROJECT_ROOT / "data" / "handwritten",
    out: Annotated[Path, typer.Option(help="corpus to write")] = DEFAULT_CORPUS,
    seed: int = 13,
) -> None:
    """Map the public datasets to our labels, add our own lines, write the compact corpus."""
    from bot.classify.datasets import build_corpus, summarise, write_corpus

    if not shared.is_dir():
        fail(f"{shared} not found: pass --shared")
    examples = build_corpus(shared, handwritten, seed)
    write_corpus(examples, out)
    Console().print_json(data={"rows": len(examples), "by_split": summarise(examples), "written": str(out)})


def _next_version(models_dir: Path) -> str:
    numbers = [int(m.group(1)) for p in models_dir.glob("v*") if (m := re.fullmatch(r"v(\d+)", p.name))]
    return f"v{max(numbers, default=0) + 1}"


@app.command()
def train(
    corpus: Annotated[Path, typer.Option(help="training corpus (JSONL.gz)")] = DEFAULT_CORPUS,
    models_dir: Annotated[Path, typer.Option(help="where versions live")] = DEFAULT_MODELS,
    version: Annotated[Optional[str], typer.Option(help="version name (default: next vN)")] = None,
    epochs: int = 14,
    seed: int = 13,
    ngram_dim: Annotated[int, typer.Option(help="size of the character n-gram embedding")] = 64,
    buckets: Annotated[int, typer.Option(help="hash buckets of character n-grams")] = 1 << 15,
    embedding_dropout: Annotated[float, typer.Option(help="share of rows trained without the sentence embedding")] = 0.0,
    encoder_layers: Annotated[int, typer.Option(min=1, max=6, help="MiniLM layers feeding the heads")] = 2,
    linear: Annotated[bool, typer.Option(help="fuse a tf-idf logistic regression with the neural heads")] = True,
    linear_c: Annotated[float, typer.Option(min=1e-3, help="inverse L2 strength of that regression")] = 10.0,
    set_current: Annotated[bool, typer.Option(help="make it the served version")] = True,
    cache: Annotated[bool, typer.Option(help="cache encoder outputs under .cache/")] = True,
    with_feedback: Annotated[bool, typer.Option(help="fold in agents' corrections from COACH_DATABASE_URL")] = False,
) -> None:
    """Rebuild the model from the training data, reproducibly (fixed seed)."""
    from bot.classify.datasets import feedback_examples, write_corpus
    from bot.classify.pipeline import evaluate_version, load_corpus, train_version
    from bot.classify.training import TrainOptions
    from bot.cli import common

    examples = load_corpus(corpus)
    version = version or _next_version(models_dir)
    feedback = []
    if with_feedback:
        with common.store() as store:
            feedback = feedback_examples(store.corrections_for_training())
        Console().print(f"folding in {len(feedback)} corrected messages from agents")
    options = TrainOptions(version=version, epochs=epochs, seed=seed, ngram_dim=ngram_dim, buckets=buckets,
                           embedding_dropout=embedding_dropout, encoder_layers=encoder_layers, linear=linear,
                           linear_c=linear_c)
    directory = train_version(examples + feedback, models_dir, options, CACHE_DIR if cache else None)
    if feedback:  # kept with the version, so it can be rebuilt without the database
        write_corpus(feedback, directory / "feedback.jsonl.gz")
    report = evaluate_version(directory, examples, CACHE_DIR if cache else None)
    if set_current:
        (models_dir / "CURRENT").write_text(version + "\n")
    _print_report(report)
    Console().print(f"[green]trained[/green] {directory}" + (" (now current)" if set_current else ""))


@app.command("eval")
def evaluate_cmd(
    model: Annotated[Optional[Path], typer.Option(help="model version folder (default: current)")] = None,
    corpus: Annotated[Path, typer.Option(help="corpus whose 'val' split is evaluated")] = DEFAULT_CORPUS,
    backend: Annotated[str, typer.Option(help="torch (reference, writes PNGs), onnx-fp32 or onnx-int8")] = "torch",
) -> None:
    """Metrics per head and per language on the validation split; confusion-matrix PNGs."""
    from bot.classify.model import resolve_model_dir
    from bot.classify.pipeline import evaluate_version, load_corpus
    from bot.settings import BACKENDS

    if backend not in BACKENDS:
        fail(f"--backend must be one of {', '.join(BACKENDS)}")
    directory = resolve_model_dir(model or DEFAULT_MODELS)
    report = evaluate_version(directory, load_corpus(corpus), backend=backend)
    _print_report(report)
    Console().print(f"metrics and confusion matrices written to {directory}")


def _print_report(report: dict) -> None:
    from bot.classify.evaluation import summary_table

    table = Table(title="validation (never trained on)")
    for column in ("head", "lang", "n", "macro-F1", "accuracy", "ECE"):
        table.add_column(column)
    for head, lang, n, f1, acc, ece in summary_table(report):
        table.add_row(head, lang, str(n), f"{f1:.3f}", f"{acc:.3f}", f"{ece:.3f}")
    Console().print(table)


model_app = typer.Typer(help="Model versions and the ONNX serving path.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("list")
def model_list(models_dir: Annotated[Path, typer.Option(help="where versions live")] = DEFAULT_MODELS) -> None:
    """Versions side by side, with their validation macro-F1; * marks the served one."""
    import json

    current = (models_dir / "CURRENT").read_text().strip() if (models_dir / "CURRENT").is_file() else None
    table = Table()
    for column in ("", "version", "complaint F1 (all)", "tone F1 (all)", "trained on"):
        table.add_column(column)
    for directory in sorted(p for p in models_dir.iterdir() if (p / "config.json").is_file()):
        metrics_path = directory / "metrics.json"
        heads = json.loads(metrics_path.read_text())["heads"] if metrics_path.is_file() else {}
        f1 = {h: f"{heads[h]['all']['macro_f1']:.3f}" if h in heads else "-" for h in ("complaint", "tone")}
        trained = json.loads((directory / "config.json").read_text()).get("trained_on", {})
        table.add_row("*" if directory.name == current else "", directory.name, f1["complaint"], f1["tone"],
                      ", ".join(f"{k} {v}" for k, v in trained.items()))
    Console().print(table)


@model_app.command("use")
def model_use(
    version: Annotated[str, typer.Argument(help="a version folder under models/")],
    models_dir: Annotated[Path, typer.Option(help="where versions live")] = DEFAULT_MODELS,
) -> None:
    """Serve another version (e.g. switch back after a bad retrain); workers pick it up on restart."""
    from bot.classify.model import resolve_model_dir

    try:
        resolve_model_dir(models_dir / version)
    except FileNotFoundError as exc:
        fail(str(exc))
    (models_dir / "CURRENT").write_text(version + "\n")
    Console().print(f"now serving {version}")


@model_app.command("export")
def model_export(
    fp32: Annotated[bool, typer.Option(help="also keep the unquantised graph only")] = False,
    model: Annotated[Optional[Path], typer.Option(help="model version whose encoder depth to export")] = None,
) -> None:
    """Export the encoder to ONNX (fused, int8 per-channel) for the torch-free serving path."""
    from bot.classify.config import read_config, resolve_model_dir
    from bot.classify.onnx_backend import DEFAULT_ONNX_DIR, export_encoder

    layers = read_config(resolve_model_dir(model or DEFAULT_MODELS)).encoder_layers
    path = export_encoder(DEFAULT_ONNX_DIR, quantized=not fp32, layers=layers)
    Console().print(f"exported {path}")


@app.command()
def bench(
    backends: Annotated[str, typer.Option(help="comma-separated: torch, onnx-fp32, onnx-int8")] = "torch,onnx-fp32,onnx-int8",
    n: Annotated[int, typer.Option(help="single-message runs per backend")] = 300,
    batched: Annotated[int, typer.Option(help="messages in the throughput run")] = 1024,
    rounds: Annotated[int, typer.Option(min=1, help="fresh runs per backend, interleaved; figures pooled")] = 1,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Latency p50/p95/p99 (classify + plan, one ~30-token message), throughput, cold start, peak RSS.

    Benchmarks the model the bot serves (COACH_MODEL_DIR, default models/CURRENT)."""
    import json
    import os

    from bot.bench import as_dict, run_bench
    from bot.classify.config import read_config, resolve_model_dir
    from bot.classify.onnx_backend import DEFAULT_ONNX_DIR, export_encoder, onnx_path
    from bot.settings import BACKENDS, Settings

    wanted = [b.strip() for b in backends.split(",") if b.strip()]
    unknown = [b for b in wanted if b not in BACKENDS]
    if unknown or not wanted:
        fail(f"unknown backend {', '.join(unknown) or '(none given)'}: choose from {', '.join(BACKENDS)}")
    served = resolve_model_dir(Settings().coach_model_dir)
    layers = read_config(served).encoder_layers
    for quantized in (False, True):
        if f"onnx-{'int8' if quantized else 'fp32'}" in wanted and not onnx_path(DEFAULT_ONNX_DIR, quantized, layers).is_file():
            export_encoder(DEFAULT_ONNX_DIR, quantized, layers)  # not part of any measurement
    results = [as_dict(r) for r in run_bench(wanted, n, batched, rounds)]
    if as_json:
        print(json.dumps(results, indent=2))
        return
    table = Table(title=f"coach bench: {served.name} on {os.cpu_count()} cores, {rounds} round(s) x {n} messages")
    for column in ("backend", "p50 ms", "p95 ms", "p99 ms", "msgs/s (batched)", "cold start s", "peak RSS MB", "torch"):
        table.add_column(column)
    for r in results:
        spread = f" (min {r['throughput_min_msgs_s']:.0f})" if rounds > 1 else ""
        table.add_row(r["backend"], f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}", f"{r['p99_ms']:.2f}",
                      f"{r['throughput_msgs_s']:.0f}{spread}", f"{r['cold_start_s']:.2f}", f"{r['peak_rss_mb']:.0f}",
                      "yes" if r["torch_imported"] else "no")
    Console().print(table)
