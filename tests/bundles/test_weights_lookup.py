"""Where learned weights come from: the shipped bundles, or only the folder that ``--bundles`` /
``MEDCOMP_BUNDLES`` / ``bundles=`` names.  A file made with retrained weights decodes with those and
nothing else, and every mismatch names the weights file expected and the one found."""

import dataclasses
import shutil

import numpy as np
import pytest
import torch
from pydicom.data import get_testdata_file

from monai_medcomp import api, weights
from monai_medcomp.cli import main
from monai_medcomp.errors import MissingWeightsError

CT = get_testdata_file("CT_small.dcm")  # 128 x 128, 16 blocks: a few hundred milliseconds per learned codec
LEARNED = {"cnn-ae": ("cnn_ae", None), "gan-wgan": ("gan_wgan", None),
           "learned-lossless": ("learned_lossless", None), "mlp-huffman": ("mlp_huffman", {"epochs": 0})}


@pytest.fixture(autouse=True)
def no_ambient_folder(monkeypatch):
    monkeypatch.delenv("MEDCOMP_BUNDLES", raising=False)


def shipped(bundle):
    """The shipped weights of ``bundle``, whatever folder a test names."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MEDCOMP_BUNDLES", raising=False)
        return weights.find_weights(bundle)


def nudge(state):
    """``state`` with its first tensor moved by one small step: retrained weights of the same shapes."""
    for key, value in state.items():
        if isinstance(value, dict):
            nudge(value)
        else:
            state[key] = value + (1e-3 if value.is_floating_point() else 1)
        return state


def retrain(root, bundle):
    """``root/bundle``: a copy of the shipped bundle whose weights differ slightly; returns the weights file."""
    shutil.copytree(shipped(bundle).path.parents[1], root / bundle)
    path = root / bundle / weights.WEIGHTS_FILE
    path.write_bytes(weights.state_bytes(nudge(torch.load(path, weights_only=True))))
    return path


@pytest.fixture(scope="module")
def retrained(tmp_path_factory):
    """A bundles folder with retrained cnn_ae weights, and the .mcz files made with them and with the shipped ones."""
    root = tmp_path_factory.mktemp("retrained")
    retrain(root, "cnn_ae")
    files = tmp_path_factory.mktemp("files")
    assert main(["compress", CT, str(files / "retrained.mcz"), "--codec", "cnn-ae", "--bundles", str(root),
                 "--quiet"]) == 0
    assert main(["compress", CT, str(files / "shipped.mcz"), "--codec", "cnn-ae", "--quiet"]) == 0
    return root, files / "retrained.mcz", files / "shipped.mcz"


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *words):
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert str(word) in err, err
    return err


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_bundle_folder_named_otherwise_is_an_error_not_the_shipped_weights(how, tmp_path, capsys, monkeypatch):
    """The reported defect: ``custom/cnn_ae_v2`` was ignored and the shipped cnn_ae weights used silently."""
    retrain(tmp_path / "custom", "cnn_ae")
    (tmp_path / "custom" / "cnn_ae").rename(tmp_path / "custom" / "cnn_ae_v2")
    option = ["--bundles", tmp_path / "custom"] if how == "option" else []
    if how == "environment":
        monkeypatch.setenv("MEDCOMP_BUNDLES", str(tmp_path / "custom"))
    code, _, err = run(capsys, "compress", CT, tmp_path / "ct.mcz", "--codec", "cnn-ae", "--quiet", *option)
    one_line_error(code, err, tmp_path / "custom" / "cnn_ae" / "models" / "model.pt", "cnn_ae_v2")
    assert not (tmp_path / "ct.mcz").exists()


def test_a_bundle_without_its_weights_file_names_the_file_expected(tmp_path, capsys):
    (tmp_path / "cnn_ae" / "models").mkdir(parents=True)
    (tmp_path / "cnn_ae" / "models" / "model.pth").write_bytes(b"")
    code, _, err = run(capsys, "compress", CT, tmp_path / "ct.mcz", "--codec", "cnn-ae", "--bundles", tmp_path,
                         "--quiet")
    one_line_error(code, err, tmp_path / "cnn_ae" / "models" / "model.pt", "model.pth")


def test_retrained_weights_decode_only_with_their_folder(retrained, tmp_path, capsys):
    root, made_retrained, made_shipped = retrained
    ours, theirs = weights.find_weights("cnn_ae"), None
    with weights.bundles_from(root):
        theirs = weights.find_weights("cnn_ae")
    assert api.info(made_retrained)["weights"] == theirs.info() != ours.info()

    code, _, _ = run(capsys, "decompress", made_retrained, tmp_path / "ct.nii.gz", "--bundles", root, "--quiet")
    assert code == 0
    decoded = api.read(tmp_path / "ct.nii.gz").array  # the codec checked its own digest of the encoder's pixels
    assert not np.array_equal(decoded, api.decompress(made_shipped).array)  # the retrained network did the work

    code, _, err = run(capsys, "decompress", made_retrained, tmp_path / "a.nii.gz", "--quiet")
    one_line_error(code, err, ours.path, ours.sha256[:12], f"cnn_ae sha256 {theirs.sha256[:12]}")
    code, _, err = run(capsys, "decompress", made_shipped, tmp_path / "b.nii.gz", "--bundles", root, "--quiet")
    one_line_error(code, err, theirs.path, theirs.sha256[:12], f"cnn_ae sha256 {ours.sha256[:12]}")
    assert not list(tmp_path.glob("[ab].nii.gz"))


def test_the_option_wins_over_the_environment(retrained, tmp_path, capsys, monkeypatch):
    root, made_retrained, _ = retrained
    monkeypatch.setenv("MEDCOMP_BUNDLES", str(root))
    assert api.decompress(made_retrained).array.shape == (1, 128, 128)
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "decompress", made_retrained, tmp_path / "ct.nii.gz", "--bundles", tmp_path / "empty",
                         "--quiet")
    one_line_error(code, err, tmp_path / "empty" / "cnn_ae" / "models" / "model.pt", "is empty")
    code, out, _ = run(capsys, "codecs", "--bundles", tmp_path / "empty")
    assert code == 0 and [line.split()[-1] for line in out.splitlines() if line.startswith("cnn-ae ")] == ["no"]


def test_the_python_folder_is_scoped_to_the_call(retrained, tmp_path):
    root, made_retrained, _ = retrained
    with weights.bundles_from(tmp_path):
        with weights.bundles_from(root):
            assert weights.bundle_roots() == [root]
        assert weights.bundle_roots() == [tmp_path]
    assert weights.chosen_root() is None
    assert api.decompress(made_retrained, bundles=root).array.shape == (1, 128, 128)
    assert weights.chosen_root() is None
    with pytest.raises(MissingWeightsError, match="cnn_ae sha256"):
        api.decompress(made_retrained)


@pytest.mark.parametrize("name", [None, "gan_wgan", "cnn_ae_v2"])
def test_a_header_naming_other_weights_is_refused_and_never_followed(name):
    """The bundle name in a header comes from the file: only the codec's own bundle is ever looked up."""
    result = api.compress(CT, codec="cnn-ae")
    result.encoded.header = dataclasses.replace(result.header, weights=None if name is None
                                                else {**result.header.weights, "name": name})
    with pytest.raises(MissingWeightsError, match=r"names weights .*uses the bundle 'cnn_ae'"):
        api.decompress(result.encoded.to_bytes())


@pytest.mark.parametrize("codec", LEARNED)
def test_every_learned_codec_reads_only_the_named_folder(codec, tmp_path):
    bundle, params = LEARNED[codec]
    (tmp_path / f"{bundle}_v2").mkdir()
    with pytest.raises(MissingWeightsError, match=f"expected {tmp_path / bundle / 'models' / 'model.pt'}"):
        api.compress(CT, codec=codec, params=params, bundles=tmp_path)


@pytest.mark.parametrize("codec", ["learned-lossless", "mlp-huffman"])
def test_lossless_files_from_retrained_weights_decode_exactly_with_them(codec, tmp_path):
    bundle, params = LEARNED[codec]
    path = retrain(tmp_path, bundle)
    original = api.read(CT).array
    data = api.compress(CT, codec=codec, params=params, bundles=tmp_path).data
    np.testing.assert_array_equal(api.decompress(data, bundles=tmp_path).array, original)
    found = shipped(bundle)
    with pytest.raises(MissingWeightsError) as error:
        api.decompress(data)
    assert str(found.path) in str(error.value) and found.sha256[:12] in str(error.value)
    assert f"{bundle} sha256 {weights.file_sha256(path)[:12]}" in str(error.value)
