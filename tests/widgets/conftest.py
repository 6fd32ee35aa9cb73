"""Fixtures shared by the notebook tests: where the example notebook lives."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def example_notebook() -> Path:
    return Path(__file__).resolve().parents[2] / "widgets" / "notebooks" / "explore.ipynb"
