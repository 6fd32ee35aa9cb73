"""The networks code a slice a few blocks per pass (for speed): the file and the pixels must not depend on it."""

from __future__ import annotations

import numpy as np
import pytest

from monai_medcomp.api import compress, decompress
from monai_medcomp.codecs import learned_block


@pytest.mark.parametrize("name", ["cnn-rnn-ae", "gan-ae-l2-dcgan"])  # residual stages; batch-norm generator
def test_pass_size_changes_neither_the_file_nor_the_pixels(name, ct_crop, monkeypatch):
    """35 blocks in passes of 4 (the last one short) against one pass of all of them."""
    assert learned_block.BLOCKS_PER_PASS < 35 and 35 % learned_block.BLOCKS_PER_PASS
    in_passes = compress(ct_crop, codec=name, params={"entropy": True})
    monkeypatch.setattr(learned_block, "BLOCKS_PER_PASS", 10 ** 6)
    in_one_pass = compress(ct_crop, codec=name, params={"entropy": True})
    assert in_passes.data == in_one_pass.data
    np.testing.assert_array_equal(decompress(in_one_pass.data).array, decompress(in_passes.data).array)


def test_every_progressive_stage_decodes_as_the_encoder_saw_it(ct_crop):
    """Each stage is decoded once and summed; the digests the encoder stored check all three prefixes."""
    data = compress(ct_crop, codec="cnn-rnn-ae").data
    errors = [np.abs(decompress(data, decode_params={"stages": k}).array.astype(np.int64) - ct_crop.array).mean()
              for k in (1, 2, 3)]
    assert errors[0] > errors[1] > errors[2]
