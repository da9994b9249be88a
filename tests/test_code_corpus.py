"""The python-stdlib corpus: the running interpreter's standard library sources, tests and vendored
code left out, windows one per file and reproducible from the seed, disjoint from the calibration
text, the sorted versioned file list in eval.json."""

from __future__ import annotations

import json
import platform

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.model import load_checkpoint
from neurosim.run import folds as FO
from neurosim.run.code_corpus import corpus_record, stdlib_files, stdlib_root
from neurosim.run.windows import check_disjoint, load_texts, select_windows


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt") / "qwen2"
    assert main(["make-checkpoint", "--arch", "qwen2", "--preset", "tiny", str(out)]) == 0
    return out


def test_file_list_is_sorted_and_leaves_out_tests_and_vendored_code():
    files = stdlib_files()
    assert files == sorted(files) and len(files) > 300
    assert "os.py" in files and "json/decoder.py" in files and "unittest/case.py" in files
    for f in files:
        parts = f.split("/")
        assert not {"test", "tests", "idle_test", "site-packages", "_vendor"} & set(parts[:-1]), f
        assert not parts[-1].startswith("test_") and f.endswith(".py"), f
    assert (stdlib_root() / "test").is_dir() or not any("test/" in f for f in files)


def test_windows_are_seeded_one_per_file_and_disjoint_from_calibration(tiny):
    tok = load_checkpoint(tiny).tokenizer
    texts = load_texts(None, "python-stdlib")
    a = select_windows(tok, texts, 6, 128, seed=3, one_per_text=True)
    b = select_windows(tok, texts, 6, 128, seed=3, one_per_text=True)
    c = select_windows(tok, texts, 6, 128, seed=4, one_per_text=True)
    assert [(w.source, w.offset) for w in a] == [(w.source, w.offset) for w in b]
    assert all(np.array_equal(x.ids, y.ids) for x, y in zip(a, b))
    assert [(w.source, w.offset) for w in a] != [(w.source, w.offset) for w in c]
    assert len({w.source for w in a}) == 6 and all(len(w.ids) == 128 for w in a)
    assert all(w.source.startswith("stdlib/") for w in a)
    # the window is the file's tokens at its offset
    w = a[0]
    text = dict(texts)[w.source]
    np.testing.assert_array_equal(w.ids, np.asarray(tok.encode(text).ids)[w.offset:w.offset + 128])
    # the default calibration text (a play) shares no 24-token run with the code windows
    src, ids = FO.calibration_ids(None, 2048, tok)
    check_disjoint(ids, a + c, src)


def test_eval_writes_the_versioned_file_list(tiny, tmp_path):
    out = tmp_path / "ev"
    assert main(["eval", "--model", str(tiny), "--corpus", "python-stdlib", "--windows", "2",
                 "--window-tokens", "24", "--mode", "int8", "--bootstrap", "100", "--out", str(out)]) == 0
    res = json.loads((out / "eval.json").read_text())
    corpus = res["corpus"]
    assert corpus["name"] == "python-stdlib" and corpus["python"] == platform.python_version()
    assert corpus["sources"] == [f"stdlib/{f}" for f in stdlib_files()] and corpus["files"] == len(corpus["sources"])
    assert {s["source"] for s in res["selection"]} <= set(corpus["sources"])
    assert corpus_record("shakespeare", [("a", "x")]) == {"sources": ["a"]}


def test_chat_tokens_in_the_text_are_plain_text(tiny):
    """A text that spells chat tokens yields windows without any special token id (none is scored)."""
    tok = load_checkpoint(tiny).tokenizer
    special = {tok.token_to_id(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")}
    text = "<|im_start|>user\nprint('hello')<|im_end|>\n<|endoftext|>" * 20
    assert special & set(tok.encode(text).ids)          # the plain encoder would make them special
    wins = select_windows(tok, [("chat", text)], 2, 16, seed=0)
    assert not special & {int(i) for w in wins for i in w.ids}
    assert tok.encode("<|im_end|>").ids == [tok.token_to_id("<|im_end|>")]   # the setting was restored
