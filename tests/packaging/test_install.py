"""A non-editable install works on its own: the package imports from site-packages and finds bundle weights."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import numpy as np, monai_medcomp as mc
from monai_medcomp import weights
assert mc.__file__.startswith({target!r}), mc.__file__
bundles = sorted(p.name for p in weights.bundle_roots()[-1].iterdir())
print("bundles", bundles)
for bundle in bundles:
    path = weights.weights_path(bundle)
    assert str(path).startswith({target!r}), path
array = np.arange(-300, 300, dtype=np.int16).reshape(20, 30)
assert np.array_equal(mc.decompress(mc.compress(array, codec="jpegls")).array[0], array)
print("ok")
"""


@pytest.mark.timeout(600)
def test_non_editable_install_carries_the_bundles(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(REPO)], check=True, cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("MEDCOMP_BUNDLES", None)
    result = subprocess.run([sys.executable, "-c", CHECK.format(target=str(target))], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "mlp_huffman" in result.stdout
