"""The hour-of-week x complaint-type heat map as a PNG (for Slack uploads and the CLI).

Uses matplotlib's object API with the Agg canvas directly: no pyplot global state, no display needed.
"""
from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.storage.records import WEEKDAYS
from bot.storage.stats import HOURS_OF_WEEK, Stats


def render_heatmap(stats: Stats, path: Path | str) -> Path:
    """Write the heat map of `stats` to `path` (PNG) and return the path."""
    path = Path(path)
    complaints = [c for c, row in stats.heat.items() if sum(row)] or ["(no incidents)"]
    matrix = [stats.heat.get(c, [0] * HOURS_OF_WEEK) for c in complaints]
    figure = Figure(figsize=(14, 1.2 + 0.38 * len(complaints)), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, aspect="auto", cmap="YlOrRd", interpolation="nearest", vmin=0)
    axes.set_yticks(range(len(complaints)), [c.replace("_", " ") for c in complaints])
    axes.set_xticks([d * 24 + 12 for d in range(7)], WEEKDAYS)
    axes.set_xticks([d * 24 for d in range(1, 7)], minor=True)
    axes.grid(which="minor", axis="x", color="#555555", linewidth=0.8)
    axes.tick_params(which="minor", length=0)
    axes.set_xlabel("hour of week (customer's local time when known, else UTC)")
    axes.set_title(f"Incidents by hour of week and complaint type, {stats.since:%Y-%m-%d} to "
                   f"{stats.until:%Y-%m-%d} ({stats.total} incidents)")
    figure.colorbar(image, ax=axes, label="incidents", fraction=0.025, pad=0.01)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path
