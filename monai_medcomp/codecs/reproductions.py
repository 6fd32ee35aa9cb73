"""The paper's codecs are reproductions, kept to compare with the paper, and each is labelled with how far it
measured from JPEG 2000, so that nobody takes one for a recommendation.

MedComp began as a re-implementation of one paper's methods: its ten 32x32 block autoencoders and GANs, its
MLP + Huffman lossless coder, and the two baselines it compared them with.  They run, and their bundles hold
trained weights, but the committed benchmarks show every one of them behind JPEG 2000.  The figures below are
copied from those benchmarks (the file is named in each); ``tests/bundles/test_reproduction_labels.py``
recomputes them from the benchmarks' JSON, so a new benchmark run that moves a figure fails until it is
copied here.  A codec's description, its bundle's README, the README's codec table and the notebook
explorer all show :attr:`Reproduction.label`.
"""

from __future__ import annotations

import dataclasses

SEED_LOSSY = "benchmarks/seed_lossy.md"  # the block codecs at 16:1, against JPEG 2000 at the same rate
SEED_TABLE2 = "benchmarks/seed_table2.md"  # the lossless MLP coder against JPEG 2000 lossless
LOSSY = "benchmarks/lossy.md"  # the baselines' rate-distortion curves, BD-rate against JPEG 2000


@dataclasses.dataclass(frozen=True)
class Reproduction:
    """One of the paper's methods as MedComp re-implements it, and its measured distance to JPEG 2000.

    ``measure`` says which figure ``value`` is: ``"psnr_db"``, the mean PSNR difference in dB at about the same
    rate (negative: worse); ``"size_ratio"``, lossless file size over JPEG 2000's; ``"bd_rate"``, the mean
    Bjontegaard delta rate in percent (positive: more bits for the same PSNR).
    """

    method: str  # the paper's name for it
    measure: str
    value: float
    source: str  # the committed benchmark the figure comes from

    @property
    def distance(self) -> str:
        """The figure in words: ``20.2 dB below JPEG 2000 at the same rate``."""
        if self.measure == "psnr_db":
            return f"{-self.value:.1f} dB below JPEG 2000 at the same rate"
        if self.measure == "size_ratio":
            return f"files {self.value - 1:.0%} larger than JPEG 2000 lossless"
        return f"{self.value:.0f}% more bits than JPEG 2000 for the same PSNR"

    @property
    def label(self) -> str:
        """What every front-end shows beside the codec's name."""
        return f"reproduction of the paper's {self.method}, not a recommendation: {self.distance} ({self.source})"

    def describe(self, what: str) -> str:
        """A codec description: what it does, then the label."""
        return f"{what}; {self.label}"


def _block(method: str, psnr_db: float) -> Reproduction:
    return Reproduction(method, "psnr_db", psnr_db, f"{SEED_LOSSY}, mean of the 8 grey images every column coded")


REPRODUCTIONS: dict[str, Reproduction] = {
    "bttc": Reproduction("binary-tree triangular coding baseline", "bd_rate", 145.9, f"{LOSSY}, mean BD-rate"),
    "kmeans": Reproduction("k-means++ vector quantisation baseline", "bd_rate", 160.7, f"{LOSSY}, mean BD-rate"),
    "mlp-huffman": Reproduction("MLP + Huffman lossless coder", "size_ratio", 1.12,
                                f"{SEED_TABLE2}, mean bpp of the 11 evaluation images"),
    "cnn-ae": _block("CNN-AE", -20.18),
    "cnn-rnn-ae": _block("CNN-RNN-AE", -19.56),
    "cnn-ae-ft": _block("CNN-AE-FT", -19.41),
    "gan-wgan": _block("GAN (WGAN)", -19.43),
    "gan-dcgan": _block("GAN (DCGAN)", -20.69),
    "gan-ae-l1-wgan": _block("GAN-AE (L1, WGAN)", -21.03),
    "gan-ae-l2-wgan": _block("GAN-AE (L2, WGAN)", -22.21),
    "gan-ae-l1-dcgan": _block("GAN-AE (L1, DCGAN)", -24.67),
    "gan-ae-l2-dcgan": _block("GAN-AE (L2, DCGAN)", -30.17),
    "gan-ae-ft": _block("GAN-AE-FT", -21.40),
}
