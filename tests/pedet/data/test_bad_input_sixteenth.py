"""
Sixteenth bad-input trial of the data side (issue 11): the (read, write) pairs of every entry point tried in turn.
The synthetic generator's --preview PNG, written last through a link, replaced the split just generated (a link
named *.png to its .odgt, or to one of its images) while the meta file still called the split complete; a frame name
in caltech_seq2jpg's output folder that is a link to the video (or the bbGt file) had it replaced by the frame.
(odgt2coco's
output through a link of another name to an image it reads is in test_bad_input_fifteenth.py; a real .odgt whose
first line is blank, in test_bad_input_third.py's synthetic --out table.)
"""
import io
import os

import numpy as np
import pytest
from PIL import Image

from pedet.data import load_crowdhuman_odgt
from pedet.data import synthetic as syn
from pedet.data.convert import main as convert

from .conftest import write_file

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


@pytest.mark.parametrize("target", ["video", "annotation file"])
def test_caltech_seq2jpg_frame_name_that_is_a_link_to_an_input_is_refused(tmp_path, capsys, target):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG")
    video = b"\x00" * 1024 + buf.getvalue() + b"\x00" * 16 + buf.getvalue()  # frames 0 and 1
    seq = write_file(tmp_path / "seq" / "set00" / "V000.seq", video)
    anno = write_file(tmp_path / "anno" / "set00" / "set00_V000_I00001.txt", "% bbGt version=3\n")
    link = tmp_path / "images" / "set00_V000_I00001.jpg"
    link.parent.mkdir()
    os.symlink(seq if target == "video" else anno, link)
    argv = ["caltech_seq2jpg", str(tmp_path / "seq"), str(tmp_path / "anno"), str(tmp_path / "images")]
    assert convert(argv) == 1
    assert capsys.readouterr().err == (
        f"error: {link} is a link to {seq if target == 'video' else anno}, a file this conversion reads; the frame of "
        "that name would replace it: remove the link\n")
    with open(seq, "rb") as f:
        assert f.read() == video
    link.unlink()
    assert convert(argv) == 0 and link.read_bytes() == buf.getvalue()  # without the link: the frame is written
