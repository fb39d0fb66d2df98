"""
Eighteenth bad-input trial of the data side (issue 11): the synthetic generator's Python functions called directly,
as a user's script would. ``generate_synthetic_crowd`` took any split name (the command refuses them): "" wrote
``annotation_.odgt``, "a/b" an ``annotation_a/b.odgt`` in a new folder;
a dict as the spec was "'dict' object has no attribute 'num_images'"; ``ensure_synthetic_crowd`` with a preset or
split that does not exist was a bare ``KeyError: 'test'``. (The evaluation side's functions are in
tests/pedet/evaluation/test_bad_input_eighteenth.py.)
"""
import os
import re

import pytest

from pedet.data import synthetic as syn

SPEC = syn.SplitSpec(num_images=1, seed=0, persons_per_image=(1, 1), image_size=(32, 32))


@pytest.mark.parametrize("split", ["", "a/b", "/../../x", "val x", None])
def test_generate_refuses_a_split_name_that_is_not_a_file_name_part(tmp_path, split):
    out = tmp_path / "out"
    message = f"split must be a name of letters, digits, '_' or '-' (it names files), got {split!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        syn.generate_synthetic_crowd(str(out), split, SPEC)
    assert os.listdir(tmp_path) == []  # nothing written, in `out` or beside it


def test_generate_refuses_a_spec_that_is_not_a_split_spec(tmp_path):
    with pytest.raises(TypeError, match=r"^spec must be a SplitSpec \(or None for the default\), got dict$"):
        syn.generate_synthetic_crowd(str(tmp_path / "out"), "val", {"num_images": 1})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("preset, split", [("nope", "val"), ("default", "test"), ("default", "")])
def test_ensure_names_the_presets_and_splits_for_an_unknown_one(tmp_path, preset, split):
    with pytest.raises(KeyError, match=rf"no split '{split}' in preset '{preset}'; presets and their splits: "
                                       r"default: train, val; "):
        syn.ensure_synthetic_crowd(str(tmp_path), preset, split)
    assert not (tmp_path / "synthetic_crowd").exists()
