"""What a transfer syntax cannot hold is refused with a message naming the syntax and the data, and nothing is
written (the pairs are ``conftest.REFUSED``; every other pair is written and checked by the tools)."""

import pytest

from monai_medcomp import api
from monai_medcomp.bench.dicom import SETTINGS, output_path
from monai_medcomp.errors import UnsupportedDataError
from monai_medcomp.io.dicom_syntax import get_syntax


def test_a_syntax_refuses_what_it_cannot_hold(refused, outputs, tmp_path):
    image, name, why = refused
    codec, params = SETTINGS[name]
    path = output_path(tmp_path, image, name, outputs.volume(image))
    with pytest.raises(UnsupportedDataError) as raised:
        api.compress(outputs.volume(image), path, codec, params=params, transfer_syntax=name)
    message = str(raised.value)
    assert why in message and get_syntax(name).uid in message
    assert not path.exists()
