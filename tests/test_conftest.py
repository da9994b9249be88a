"""tests/conftest.py: the hypothesis profiles ("ci", the default, and "long")."""

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent


def test_profiles_ci_and_long():
    """The CI profile is the default and NEUROSIM_PROFILE=long selects a larger one, for every
    property test under tests/ (conftest.py is loaded before them)."""
    ci, long = settings.get_profile("ci"), settings.get_profile("long")
    assert long.max_examples > ci.max_examples >= 50
    assert ci.deadline is None and long.deadline is None
    want = os.environ.get("NEUROSIM_PROFILE", "ci")
    assert settings.default.max_examples == settings.get_profile(want).max_examples
    code = ("import sys; sys.argv = ['x']; import tests.conftest; from hypothesis import settings; "
            "print(settings.default.max_examples)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, NEUROSIM_PROFILE="long"))
    assert r.returncode == 0, r.stderr[-800:]
    assert int(r.stdout.strip()) == long.max_examples
