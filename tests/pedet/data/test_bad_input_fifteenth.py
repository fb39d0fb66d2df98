"""
Fifteenth bad-input trial of the data side (issue 11). Two records whose paths name one file on disk through a link
(an ID '../Images_link/a' beside 'a', a hard link) were two images of one picture, each with part of its persons
(the fourteenth trial caught 'a' beside './a' only). A register_* function given bytes, a list or None as a path
registered the set, which then failed when requested with "stat: path should be string, ...". odgt2coco replaced an
image of --image-root, which it reads, by the COCO file. The synthetic generator, asked for preset splits, rendered
the first split before refusing a split the preset does not have (exit status 1, after a warning that described
--out's behaviour). An image ID holding a line break made a two-line error. (The --root / --force with --out cases
are in test_cli_bad_input.py's table; the evaluation command's in tests/pedet/evaluation/test_bad_input_third.py's.)
"""
import json
import os
import pathlib

import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog
from pedet.data import load_crowdhuman_odgt, load_tju_ped
from pedet.data import synthetic as syn
from pedet.data.common import DatasetFormatError
from pedet.data.convert import main as convert
from pedet.data.crowdhuman import register_crowdhuman

from .conftest import write_file, write_image
from .test_bad_input_twelfth import REGISTER

PERSON = {"tag": "person", "fbox": [1, 2, 10, 20]}


def _odgt(*ids):
    return "".join(json.dumps({"ID": i, "width": 32, "height": 24, "gtboxes": [PERSON]}) + "\n" for i in ids)


def _tju(*file_names):
    return json.dumps({
        "images": [{"id": k + 1, "file_name": f, "height": 24, "width": 32} for k, f in enumerate(file_names)],
        "annotations": [{"id": k + 1, "image_id": k + 1, "category_id": 1, "bbox": [1, 2, 10, 20]}
                        for k in range(len(file_names))],
        "categories": [{"id": 1, "name": "pedestrian"}]})


@pytest.mark.parametrize("loader", ["crowdhuman", "tju"])
@pytest.mark.parametrize("link", ["symbolic link to the image folder", "hard link", "none (control)"])
def test_two_paths_of_one_image_file_on_disk_are_refused(tmp_path, loader, link):
    images = tmp_path / "Images"
    write_image(images / "a.jpg")
    second = {"symbolic link to the image folder": "../Images_link/a", "hard link": "b",
              "none (control)": "c"}[link]
    if link.startswith("symbolic"):
        os.symlink(images, tmp_path / "Images_link")
    elif link == "hard link":
        os.link(images / "a.jpg", images / "b.jpg")
    else:
        write_image(images / "c.jpg")
    if loader == "crowdhuman":
        gt = write_file(tmp_path / "gt.odgt", _odgt("a", second))
        load = lambda: load_crowdhuman_odgt(gt, str(images))  # noqa: E731
        where, first = f"{gt}:2", "line 1 (ID 'a')"
    else:
        gt = write_file(tmp_path / "gt.json", _tju("a.jpg", second + ".jpg"))
        load = lambda: load_tju_ped(gt, str(images))  # noqa: E731
        where, first = f"{gt}: images[1] (id 2)", "images[0] (id 1)"
    if link.startswith("none"):
        assert [len(d["annotations"]) for d in load()] == [1, 1]
        return
    with pytest.raises(DatasetFormatError) as e:  # before: two records, each with one of the picture's two persons
        load()
    assert str(e.value) == (f"{where}: image file '{images / second}.jpg' is also the file of {first} (the same file "
                            "on disk, through a link); one image needs one entry")


@pytest.mark.parametrize("image_id", ["a\nb", "a\rb", "a\x00b"])
def test_an_image_id_with_a_control_character_gives_a_one_line_error(tmp_path, image_id):
    write_image(tmp_path / "Images" / "a.jpg")
    gt = write_file(tmp_path / "gt.odgt", _odgt(image_id))
    with pytest.raises(FileNotFoundError) as e:  # "\n" gave "image not found: '.../a" and "b.jpg'" on the next line
        load_crowdhuman_odgt(gt, str(tmp_path / "Images"))
    assert str(e.value) == f"{gt}:1: image not found: {os.path.join(str(tmp_path / 'Images'), image_id + '.jpg')!r}"
    assert len(str(e.value).splitlines()) == 1


NOT_PATHS = {"bytes": b"/data/x", "list": ["/data/x"], "None": None}  # synthetic's root=None: $DETECTRON2_DATASETS


@pytest.mark.parametrize("kind, path", [(k, p) for k in REGISTER for p in NOT_PATHS if (k, p) != ("synthetic", "None")])
def test_a_path_that_is_no_path_fails_at_registration_and_registers_nothing(kind, path):
    path = NOT_PATHS[path]
    datasets, metadata = DatasetCatalog.list(), MetadataCatalog.list()
    with pytest.raises(TypeError, match=rf"^data set '.*': \w+ must be a path \(a str or an os.PathLike\), got "
                                        rf"{type(path).__name__} "):
        REGISTER[kind]("pedet_test_fifteenth", path)
    assert (DatasetCatalog.list(), MetadataCatalog.list()) == (datasets, metadata)


def test_pathlib_paths_register_and_load(tmp_path):
    write_image(tmp_path / "Images" / "a.jpg")
    gt = pathlib.Path(write_file(tmp_path / "gt.odgt", _odgt("a")))
    register_crowdhuman("pedet_test_fifteenth_path", gt, tmp_path / "Images")
    try:
        assert [d["image_id"] for d in DatasetCatalog.get("pedet_test_fifteenth_path")] == ["a"]
    finally:
        DatasetCatalog.remove("pedet_test_fifteenth_path")
        MetadataCatalog.remove("pedet_test_fifteenth_path")


def test_odgt2coco_output_that_is_an_image_it_reads_is_refused(tmp_path, capsys):
    images = tmp_path / "Images"
    write_image(images / "a.jpg")
    write_image(images / "b.jpg")
    before = (images / "b.jpg").read_bytes()
    odgt = write_file(tmp_path / "gt.odgt", _odgt("a", "b"))
    os.symlink(images, tmp_path / "link")
    os.symlink(images / "b.jpg", tmp_path / "out.json")  # sixteenth trial: a link of another name (was replaced)
    # the image itself, through a link to the folder, through a link to the file
    for output, via in ((images / "b.jpg", ""), (tmp_path / "link" / "b.jpg", ""),
                        (tmp_path / "out.json", f" (a link to {images / 'b.jpg'})")):
        with pytest.raises(SystemExit) as e:
            convert(["odgt2coco", odgt, str(output), "--image-root", str(images)])
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert e.value.code == 2 and err == (
            f"python -m pedet.data.convert: error: the output {output}{via} is an image of --image-root {images}, "
            "which the conversion reads; give another path, e.g. annotation_val.json beside the .odgt")
        assert (images / "b.jpg").read_bytes() == before
    assert convert(["odgt2coco", odgt, str(images / "gt.json"), "--image-root", str(images)]) == 0  # not an image


def test_synthetic_preset_split_it_does_not_have_is_refused_before_any_split_is_rendered(tmp_path, capsys,
                                                                                        monkeypatch):
    tiny = syn.SplitSpec(num_images=1, seed=5, persons_per_image=(1, 1), image_size=(32, 32))
    monkeypatch.setitem(syn.PRESETS, "d5", {"val": tiny})  # a one-image preset: rendered in a blink
    with pytest.raises(SystemExit) as e:
        syn.main(["--root", str(tmp_path), "--preset", "d5", "--split", "val", "--split", "test"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.strip().splitlines()[-1] == (
        "python -m pedet.data.synthetic: error: preset 'd5' has splits val, not 'test'; write other splits with "
        "--out DIR")
    assert "starts from" not in err  # before: a warning on how --out would have written it, then the refusal
    assert not (tmp_path / "synthetic_crowd").exists()  # before: 'val' rendered, then the refusal (exit status 1)
