"""Seeded, reproducible training of the learned codecs on the training pool (never the evaluation images).

``python -m monai_medcomp.training.mlp_huffman`` and ``python -m monai_medcomp.training.lossy`` write the
weights that the bundles under ``bundles/`` ship; each bundle's ``docs/training.md`` gives the command.
"""

from typing import Callable

Progress = Callable[[int, int], None]  # progress(done, total), called as a training loop advances (a bundle logs it)
