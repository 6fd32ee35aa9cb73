"""Report formatting: Markdown tables, JSON without NaN/inf, provenance lines, sweep settings."""

import json
import math

import numpy as np
import pytest

from monai_medcomp.bench.ratedistortion import SweepRange, knob_range, knob_values
from monai_medcomp.bench.report import markdown_table, provenance, run_description, to_json
from monai_medcomp.codecs import Knob, get_codec


def test_markdown_table_rounds_and_marks_missing_values():
    table = markdown_table(["image", "bpp", "psnr", "exact"],
                           [["ct", 3.04567, math.inf, True], ["mr", None, np.float32(41.25), False]])
    lines = table.splitlines()
    assert lines[0] == "| image | bpp | psnr | exact |"
    assert lines[1] == "|:---|---:|---:|---:|"
    assert lines[2] == "| ct | 3.05 | lossless | yes |"
    assert lines[3] == "| mr | – | 41.25 | no |"


def test_json_has_no_infinity_and_no_numpy_types():
    text = to_json({"psnr": math.inf, "nan": float("nan"), "bpp": np.float64(1.5), "n": np.int64(3),
                    "curve": [(1, np.float32(2.0))]})
    assert json.loads(text) == {"psnr": None, "nan": None, "bpp": 1.5, "n": 3, "curve": [[1, 2.0]]}


def test_provenance_names_command_machine_and_date():
    run = run_description("medcomp bench --out benchmarks")
    text = provenance(run)
    assert "`medcomp bench --out benchmarks`" in text
    assert f"{run['machine']['cpus']} cores" in text
    assert run["date"] in text and len(run["date"]) == 10


def test_sweeps_cover_the_useful_range_of_each_knob():
    assert knob_values(get_codec("jpegls"), 8) == [1, 2, 4, 8, 16, 32, 64, 128]
    distances = knob_values(get_codec("jpegxl"), 5)
    assert distances[0] == pytest.approx(0.05) and distances[-1] == pytest.approx(15.0)
    assert np.allclose(np.diff(np.log(distances)), np.log(300) / 4)  # evenly spread on a log scale
    assert knob_values(get_codec("jpeg"), 2) == [5, 98]


def test_a_knob_without_a_known_range_is_swept_from_its_first_lossy_step():
    assert knob_range(Knob("near", 0, 100, higher_is_better=False)) == SweepRange(1, 100, log=True)
    assert knob_range(Knob("quality", 1, 100)) == SweepRange(1, 100, log=False)
    assert knob_range(Knob("distance", 0.0, 25.6, higher_is_better=False, integer=False)) == SweepRange(0.1, 25.6)
