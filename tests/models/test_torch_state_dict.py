"""The torch-free state_dict reader: both torch.save serialisations read exactly (fixtures written by
PyTorch, tests/fixtures/make_torch_references.py), and a pickle that would run code is refused unrun."""

import pathlib
import pickle

import numpy as np
import pytest

from bgsplit_tf.models.pretrained import torch_state_dict

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"


@pytest.mark.parametrize("serialisation", ["zip", "legacy"])
def test_reads_what_pytorch_wrote(serialisation):
    expected = np.load(FIXTURES / "state_dict_expected.npz")
    arrays = torch_state_dict.read_state_dict(FIXTURES / f"state_dict_{serialisation}.pt")
    assert list(arrays) == list(expected.files)  # in the file's order
    for name in expected.files:
        assert arrays[name].dtype == expected[name].dtype, name
        np.testing.assert_array_equal(arrays[name], expected[name])
    assert arrays["transposed"].flags.writeable  # a copy, independent of the file's bytes


def _legacy_file(path: pathlib.Path, payload) -> pathlib.Path:
    """A file laid out as a legacy torch.save, with `payload` pickled where the state_dict goes."""
    parts = [torch_state_dict.LEGACY_MAGIC_NUMBER, torch_state_dict.LEGACY_PROTOCOL_VERSION,
             {"protocol_version": 1001, "little_endian": True}]
    path.write_bytes(b"".join(pickle.dumps(part, protocol=2) for part in parts) + pickle.dumps(payload, protocol=2)
                     + pickle.dumps([], protocol=2))
    return path


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_pickle_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "was_run"
    path = _legacy_file(tmp_path / "evil.pth", {"weight": _RunsCode(str(marker))})
    with pytest.raises(torch_state_dict.UnsafeWeightsFile, match="refusing to load: its pickle names"):
        torch_state_dict.read_state_dict(path)
    assert not marker.exists()


def test_a_zip_archive_pickle_is_screened_too(tmp_path):
    import zipfile

    marker = tmp_path / "was_run"
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"weight": _RunsCode(str(marker))}, protocol=2))
    with pytest.raises(torch_state_dict.UnsafeWeightsFile):
        torch_state_dict.read_state_dict(path)
    assert not marker.exists()


def test_truncated_and_foreign_files_get_a_clear_error(tmp_path):
    whole = (FIXTURES / "state_dict_legacy.pt").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(whole[: len(whole) - 10])
    with pytest.raises(torch_state_dict.WeightsFileError, match="truncated"):
        torch_state_dict.read_state_dict(tmp_path / "truncated.pth")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(torch_state_dict.WeightsFileError, match="text.pth"):
        torch_state_dict.read_state_dict(tmp_path / "text.pth")
    with pytest.raises(torch_state_dict.WeightsFileError, match="not a state_dict"):
        torch_state_dict.read_state_dict(_legacy_file(tmp_path / "list.pth", [1, 2]))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        torch_state_dict.read_state_dict(tmp_path / "missing.pth")
