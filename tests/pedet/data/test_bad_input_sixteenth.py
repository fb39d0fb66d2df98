"""
Sixteenth bad-input trial of the data side (issue 11): the (read, write) pairs of every entry point tried in turn.
The synthetic generator's --preview PNG, written last through a link, replaced the split just generated (a link
named *.png to its .odgt, or to one of its images) while the meta file still called the split complete. (odgt2coco's
output through a link of another name to an image it reads is in test_bad_input_fifteenth.py; a real .odgt whose
first line is blank, in test_bad_input_third.py's synthetic --out table.)
"""
import os

import pytest

from pedet.data import load_crowdhuman_odgt
from pedet.data import synthetic as syn

ARGS = ["--num-images", "1", "--size", "64", "64", "--persons-per-image", "1"]


@pytest.mark.parametrize("target", ["annotation_train.odgt", "annotation_train.meta.json",
                                    os.path.join("Images", "train_000000.jpg")])
def test_synthetic_preview_that_is_a_link_to_a_file_of_the_split_is_refused_before_rendering(tmp_path, capsys,
                                                                                           target):
    out = tmp_path / "set"
    out.mkdir()
    preview = tmp_path / "preview.png"
    os.symlink(out / target, preview)
    with pytest.raises(SystemExit) as e:
        syn.main(["--out", str(out), *ARGS, "--preview", str(preview)])
    assert e.value.code == 2 and capsys.readouterr().err.strip().splitlines()[-1] == (
        f"python -m pedet.data.synthetic: error: --preview '{preview}' is (a link to) {out / target}, a file of the "
        "split it draws; give the PNG another path")
    assert os.listdir(out) == []  # nothing rendered
    # a preview beside the images (not one of them) is drawn, and the split stays readable
    assert syn.main(["--out", str(out), *ARGS, "--preview", str(out / "Images" / "preview.png")]) == 0
    assert len(load_crowdhuman_odgt(str(out / "annotation_train.odgt"), str(out / "Images"))) == 1
    assert (out / "Images" / "preview.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
