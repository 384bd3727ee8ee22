"""onnxruntime sessions with no network at run time: vendor telemetry off before onnxruntime loads.

Measured on Linux with onnxruntime 1.32 (tests/classify/test_ort_session.py): the wheel carries a 1DS
telemetry client; about 10 s after `import onnxruntime` (with or without a session) it resolves
mobile.events.data.microsoft.com, in C++, so patching Python's `socket` never sees it.
`disable_telemetry_events()` does not stop it, nor does setting ORT_DISABLE_TELEMETRY after the
import; only ORT_DISABLE_TELEMETRY=1 in the environment before the library loads does. Hence this
module sets it at import: import it (at module level) before anything imports onnxruntime.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime

TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"
# Was onnxruntime loaded before we could switch its telemetry off? Then only a restart helps.
LOADED_TOO_EARLY = "onnxruntime" in sys.modules and os.environ.get(TELEMETRY_ENV) != "1"
os.environ[TELEMETRY_ENV] = "1"
log = logging.getLogger("coach.classify.ort")


def make_session(path: Path, threads: int) -> "onnxruntime.InferenceSession":
    """A CPU session for the graph at `path`: `threads` intra-op threads, one inter-op, all graph optimisations.

    Warns (it cannot fix it any more) when onnxruntime was imported before this module: its telemetry is
    then on for the life of the process.
    """
    if LOADED_TOO_EARLY:
        log.warning("onnxruntime was imported before bot.classify.ort_session: its telemetry stays on; "
                    "import bot.classify.ort_session first or set %s=1 in the environment", TELEMETRY_ENV)
    if threads < 0:
        raise ValueError(f"threads must be 0 (onnxruntime decides) or more, not {threads}")
    import onnxruntime as ort

    ort.disable_telemetry_events()  # Windows ETW events; harmless elsewhere
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
