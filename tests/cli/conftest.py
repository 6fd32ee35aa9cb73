"""The ``cli`` fixture: run ``medcomp`` in-process and get its exit code, standard output and standard error."""

import pytest

from monai_medcomp.cli import main


@pytest.fixture
def cli(capsys):
    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
