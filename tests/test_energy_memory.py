"""SRAM/DRAM energy models: CACTI built by the project's setup, its cache, cited figures, errors."""

import json

import pytest

from neurosim import NeurosimError
from neurosim.hwmodels import memory as mem


def test_cacti_runs_and_caches(tmp_path):
    a = mem.sram_cacti(8, 64, 45, cache_dir=tmp_path)
    assert a["cached"] is False and a["model"] == "CACTI" and a["vdd_v"] == pytest.approx(1.1)
    # CACTI's figure for this configuration: 6.14 pJ per read, 0.026 mm^2
    assert a["read_pj"] == pytest.approx(6.14, rel=0.02) and a["area_mm2"] == pytest.approx(0.026, rel=0.1)
    files = list(tmp_path.glob("cacti-*.json"))
    assert len(files) == 1
    # the cache is what is returned next time: change it and see the change come back
    doc = json.loads(files[0].read_text())
    doc["read_pj"] = 123.0
    files[0].write_text(json.dumps(doc))
    b = mem.sram_cacti(8, 64, 45, cache_dir=tmp_path)
    assert b["cached"] is True and b["read_pj"] == 123.0
    big = mem.sram_cacti(64, 64, 45, cache_dir=tmp_path)
    assert big["read_pj"] > a["read_pj"] and big["area_mm2"] > a["area_mm2"]


def test_unsupported_configurations_are_one_line_errors(tmp_path):
    with pytest.raises(NeurosimError, match=r"CACTI models nodes 22, 32, 45, 65, 90 nm; got 130 nm"):
        mem.sram_cacti(8, 64, 130, cache_dir=tmp_path)
    with pytest.raises(NeurosimError, match=r"power of two from 1 to 8192 KiB; got 3"):
        mem.sram_cacti(3, 64, 45, cache_dir=tmp_path)
    with pytest.raises(NeurosimError, match=r"port width must be one of 32, 64, 128, 256, 512 bits; got 48"):
        mem.sram_cacti(8, 48, 45, cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_weight_port():
    assert [mem.weight_port(b) for b in (8, 24, 32, 33, 128, 512, 513, 2048)] == [
        (32, 1), (32, 1), (32, 1), (64, 1), (128, 1), (512, 1), (512, 2), (512, 4)]
    with pytest.raises(NeurosimError, match="at least 1 bit"):
        mem.weight_port(0)


def test_cited_figures_and_dram():
    c = mem.sram_cited(8, 64, 45)
    assert c["read_pj"] == pytest.approx(10.0) and c["vdd_v"] == 0.9
    assert mem.sram_cited(32, 128, 45)["read_pj"] == pytest.approx(40.0)
    mid = mem.sram_cited(16, 64, 45)["read_pj"]
    assert 10.0 < mid < 20.0 and mid == pytest.approx((10.0 * 20.0) ** 0.5)    # log-log midpoint
    scaled = mem.sram_cited(8, 64, 180)
    assert scaled["read_pj"] > 10.0 and scaled["label"].startswith("ESTIMATE")
    d = mem.dram()
    assert d["pj_per_bit"] == pytest.approx(1300 / 64) and d["range_pj_per_bit"][1] == pytest.approx(2600 / 64)
