"""
Seventh bad-input trial of the data side (issue 11): the synthetic generator run again into the same --out with fewer
images (the images of the larger run stayed in Images/, in no annotation file).
"""
import os

from pedet.data import synthetic as syn


def _run(out, num_images, split="val"):
    assert syn.main(["--out", str(out), "--split", split, "--num-images", str(num_images), "--size", "64", "80", "--persons-per-image", "1", "2",
                     "--seed", "3"]) == 0


def test_fewer_images_into_the_same_out_leaves_no_stale_image(tmp_path):
    out = tmp_path / "set"
    _run(out, 4)
    (out / "Images" / "notes.txt").write_text("mine")  # not a name the generator writes: stays
    (out / "Images" / "val_12.jpg").write_bytes(b"x")  # not f"val_{i:06d}": stays
    _run(out, 2)
    assert sorted(os.listdir(out / "Images")) == ["notes.txt", "val_000000.jpg", "val_000001.jpg", "val_12.jpg"]
    with open(out / "annotation_val.odgt") as f:
        assert len(f.readlines()) == 2
    _run(out, 3, "train")  # another split's images are not this split's surplus
    assert sorted(os.listdir(out / "Images")) == ["notes.txt", "train_000000.jpg", "train_000001.jpg",
                                                  "train_000002.jpg", "val_000000.jpg", "val_000001.jpg", "val_12.jpg"]
