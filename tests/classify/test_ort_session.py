"""No network at run time: a session built by make_session resolves no host name.

onnxruntime's telemetry resolves its collector from C++ about 10 s after import, so patching Python's
`socket` alone cannot see it. The subprocesses therefore run under an LD_PRELOAD shim (compiled here)
that records every getaddrinfo/gethostbyname* call and fails it, so nothing leaves the machine; Python's
resolver functions are patched as well. A control process that imports onnxruntime directly shows the
shim sees lookups (its own probe lookup always, the telemetry one on onnxruntime 1.32).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

SHIM_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void record(const char *fn, const char *name) {
  const char *path = getenv("COACH_LOOKUP_LOG");
  if (!path) return;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd < 0) return;
  char buf[600];
  int n = snprintf(buf, sizeof buf, "%s %.500s\n", fn, name ? name : "-");
  if (n > 0) { ssize_t w = write(fd, buf, (size_t)n); (void)w; }
  close(fd);
}
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
  record("getaddrinfo", node); return EAI_NONAME; }
struct hostent *gethostbyname(const char *name) { record("gethostbyname", name); h_errno = HOST_NOT_FOUND; return NULL; }
struct hostent *gethostbyname2(const char *name, int af) { record("gethostbyname2", name); h_errno = HOST_NOT_FOUND; return NULL; }
int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t len, struct hostent **result, int *err) {
  record("gethostbyname_r", name); *result = NULL; *err = HOST_NOT_FOUND; return 0; }
int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t len, struct hostent **result,
                     int *err) {
  record("gethostbyname2_r", name); *result = NULL; *err = HOST_NOT_FOUND; return 0; }
"""

# Runs in the subprocess: patch Python's resolver, build a tiny graph, serve it for a while.
CHILD = r"""
import json, os, socket, sys, time
calls = []
def recorder(name, real):
    def wrapped(*args, **kwargs):
        calls.append([name, str(args[0])[:80] if args else ""])
        return real(*args, **kwargs)
    return wrapped
for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
    setattr(socket, name, recorder(name, getattr(socket, name)))
mode, graph, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "control":
    try:
        socket.getaddrinfo("shim-probe.invalid", 80)  # proves the shim records
    except OSError:
        pass
    import onnxruntime as ort
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
else:
    from pathlib import Path
    from bot.classify.ort_session import make_session
    session = make_session(Path(graph), threads=1)
import numpy as np
deadline = time.monotonic() + float(sys.argv[4])
out = None
while time.monotonic() < deadline and not os.path.exists(stop_file):
    out = session.run(None, {"x": np.array([[-1.0, 2.0, -3.0, 4.0]], dtype=np.float32)})[0].tolist()
    time.sleep(0.2)
print(json.dumps({"python_calls": calls, "out": out}))
"""


def _tiny_graph(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _shim(tmp_path: Path) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the resolver shim")
    source = tmp_path / "shim.c"
    source.write_text(SHIM_C)
    library = tmp_path / "shim.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(source)], check=True)
    return library


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD shim: Linux only")
def test_make_session_resolves_no_host(tmp_path):
    shim = _shim(tmp_path)
    graph = _tiny_graph(tmp_path / "relu.onnx")
    stop = tmp_path / "stop"
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env["LD_PRELOAD"] = str(shim)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    runs = {}
    for mode in ("control", "fixed"):
        log = tmp_path / f"{mode}.log"
        runs[mode] = (log, subprocess.Popen([sys.executable, "-c", CHILD, mode, str(graph), str(stop), "40"],
                                            env={**env, "COACH_LOOKUP_LOG": str(log)}, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True))
    # The telemetry lookup comes ~10 s after import: keep both alive until the control shows it
    # (or 30 s pass), then 3 s more for the fixed one.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("shim-probe" not in l for l in _lines(runs["control"][0])):
        time.sleep(0.5)
    time.sleep(3)
    stop.touch()
    results = {}
    for mode, (log, process) in runs.items():
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr[-2000:]
        results[mode] = (json.loads(stdout.splitlines()[-1]), _lines(log))
    control_native = results["control"][1]
    fixed_report, fixed_native = results["fixed"]
    print(f"control lookups: {control_native}")
    assert any("shim-probe.invalid" in line for line in control_native), "the resolver shim recorded nothing"
    assert fixed_report["out"] == [[0.0, 2.0, 0.0, 4.0]]
    assert fixed_native == [], f"make_session process resolved hosts: {fixed_native}"
    assert fixed_report["python_calls"] == []


def test_make_session_options(tmp_path):
    from bot.classify.ort_session import make_session

    session = make_session(_tiny_graph(tmp_path / "relu.onnx"), threads=2)
    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    assert str(options.graph_optimization_level).endswith("ORT_ENABLE_ALL")
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"
    with pytest.raises(ValueError):
        make_session(tmp_path / "relu.onnx", threads=-1)
