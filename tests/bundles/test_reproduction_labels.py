"""The paper's codecs are labelled as reproductions with their distance to JPEG 2000, and the figures are the
committed benchmarks' own: recomputed here from their JSON, then looked for in every place a user meets them."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from monai_medcomp.bundle_configs import BUNDLES
from monai_medcomp.codecs import codec_names, get_codec
from monai_medcomp.codecs.learned_block import LearnedBlockCodec
from monai_medcomp.codecs.reproductions import REPRODUCTIONS

REPO = Path(__file__).resolve().parents[2]


def benchmark(name: str) -> dict:
    return json.loads((REPO / "benchmarks" / name).read_text())


def block_distances() -> dict[str, float]:
    """Mean PSNR minus JPEG 2000's over the grey images every column of benchmarks/seed_lossy.md coded."""
    images = benchmark("seed_lossy.json")["images"]
    columns = list(images["ct_693"]["codecs"])
    common = [name for name, image in images.items()
              if image["color"] == "grey" and all("psnr" in image["codecs"][c] for c in columns)]
    means = {c: statistics.fmean(images[name]["codecs"][c]["psnr"] for name in common) for c in columns}
    assert len(common) == 8
    return {c: mean - means["jpeg2000"] for c, mean in means.items() if c not in ("jpeg", "jpeg2000")}


def measured() -> dict[str, float]:
    table2 = benchmark("seed_table2.json")["summary"]["mean"]
    bd_rate = benchmark("lossy.json")["mean_bd_rate"]
    return {**block_distances(), "mlp-huffman": table2["MLP pretrained"] / table2["JPEG 2000"],
            "bttc": bd_rate["bttc"]["mean"], "kmeans": bd_rate["kmeans"]["mean"]}


def test_the_paper_codecs_are_the_reproductions():
    family = {name: get_codec(name).family for name in codec_names()}
    blocks = {name for name in codec_names() if isinstance(get_codec(name), LearnedBlockCodec)}
    assert len(blocks) == 10
    assert {name for name, kind in family.items() if kind == "reproduction"} == set(REPRODUCTIONS) == (
        blocks | {"mlp-huffman", "bttc", "kmeans"})
    assert family["learned-lossy"] == family["learned-lossless"] == "medcomp" and family["jpeg2000"] == "standard"


@pytest.mark.parametrize("name", REPRODUCTIONS)
def test_the_figure_is_the_committed_benchmarks(name):
    reproduction, figure = REPRODUCTIONS[name], measured()[name]
    assert reproduction.value == pytest.approx(figure, abs=0.05 if reproduction.measure == "bd_rate" else 0.005)
    source = reproduction.source.split(",")[0]
    assert (REPO / source).is_file()
    assert f"({source}" in reproduction.label and reproduction.distance in reproduction.label
    assert "JPEG 2000" in reproduction.distance and reproduction.label.startswith("reproduction of the paper's")


@pytest.mark.parametrize("name", REPRODUCTIONS)
def test_the_codec_description_and_the_readme_carry_the_label(name):
    label = REPRODUCTIONS[name].label
    assert get_codec(name).description.endswith(f"; {label}")
    readme = (REPO / "README.md").read_text()
    codecs_section = readme.split("\n## Codecs\n", 1)[1].split("\n## ", 1)[0]
    row = next(line for line in codecs_section.splitlines() if line.startswith(f"| `{name}` |"))
    assert REPRODUCTIONS[name].distance in row and REPRODUCTIONS[name].source.split(",")[0] in row


def test_every_bundle_of_a_paper_codec_says_so_first():
    labelled = set()
    for bundle in BUNDLES:
        readme = (REPO / "bundles" / bundle.folder / "docs" / "README.md").read_text()
        metadata = json.loads((REPO / "bundles" / bundle.folder / "configs" / "metadata.json").read_text())
        codecs = [name for name in (bundle.codec, bundle.override) if name in REPRODUCTIONS]
        if not codecs:
            assert "reproduction" not in readme and "reproduction" not in metadata["name"]
            continue
        head = readme.split("\n## What inference does", 1)[0]
        assert "## A reproduction, not a recommendation" in head and "reproduction" in metadata["name"]
        for name in codecs:
            assert f"`{name}`: {REPRODUCTIONS[name].label}" in head
            assert REPRODUCTIONS[name].label in metadata["description"]
            labelled.add(name)
    assert labelled == set(REPRODUCTIONS) - {"bttc", "kmeans"}  # the baselines have no weights, so no bundle
