"""
Twelfth bad-input trial of the data side (issue 11). Registration: an empty name registered the loader, then failed
in MetadataCatalog with a bare AssertionError (the name stayed half-registered); a name whose DatasetCatalog entry was
removed but whose metadata was not was registered with the new file's loader and then failed on the metadata
("cannot be set to a different value"), leaving that loader beside the old file's `gt_file`. Outputs: a legal file
name of 230-255 bytes failed with "File name too long" naming the temporary file, whose name is longer. The
synthetic generator's file errors printed Python's "[Errno N]" prefix.
"""
import json
import os
import shutil

import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog
from pedet.data import synthetic as syn
from pedet.data.common import DatasetFormatError
from pedet.data.caltech import register_caltech
from pedet.data.citypersons import register_citypersons_json, register_citypersons_per_image
from pedet.data.convert import main as convert
from pedet.data.crowdhuman import register_crowdhuman
from pedet.data.tju import register_tju_ped
from pedet.utils.file_io import atomic_write, remove_stale_temporaries

from .conftest import write_file, write_image

REGISTER = {
    "crowdhuman": lambda name, path: register_crowdhuman(name, path, "images"),
    "citypersons per image": lambda name, path: register_citypersons_per_image(name, path, "images", None),
    "citypersons json": lambda name, path: register_citypersons_json(name, path, "images"),
    "caltech": lambda name, path: register_caltech(name, path, "images"),
    "tju": lambda name, path: register_tju_ped(name, path, "images"),
    "synthetic": lambda name, path: syn.register_synthetic_crowd(
        path, {"p": {"s": syn.PRESETS["cpu"]["sparse"]}}, prefix=name),
}


@pytest.mark.parametrize("kind", [k for k in REGISTER if k != "synthetic"])  # synthetic names have a prefix
@pytest.mark.parametrize("name", ["", None])
def test_registering_an_empty_name_fails_and_registers_nothing(kind, name):
    datasets, metadata = DatasetCatalog.list(), MetadataCatalog.list()
    with pytest.raises(ValueError, match=f"a data set name must be a non-empty string, got {name!r}$"):
        REGISTER[kind](name, "x")
    assert (DatasetCatalog.list(), MetadataCatalog.list()) == (datasets, metadata)


@pytest.mark.parametrize("kind", list(REGISTER))
def test_registering_again_over_metadata_left_by_dataset_catalog_remove_fails_and_registers_nothing(kind):
    name = f"pedet_test_twelfth_{kind.replace(' ', '_')}"
    full = f"{name}_p_s" if kind == "synthetic" else name
    REGISTER[kind](name, "/data/old")
    DatasetCatalog.remove(full)  # MetadataCatalog.remove forgotten
    try:
        with pytest.raises(ValueError, match=f"data set '{full}': MetadataCatalog still holds .*'/data/old.* from an "
                                             rf"earlier registration .*; call MetadataCatalog.remove\('{full}'\) too"):
            REGISTER[kind](name, "/data/new")
        assert full not in DatasetCatalog.list()
        REGISTER[kind](name, "/data/old")  # the same files: the metadata agrees, as Detectron2 allows
        assert full in DatasetCatalog.list()
    finally:
        DatasetCatalog.remove(full) if full in DatasetCatalog.list() else None
        MetadataCatalog.remove(full)


def test_two_names_for_one_file_load_the_same_dicts(tmp_path):
    odgt = write_file(tmp_path / "a.odgt", json.dumps({"ID": "a", "width": 32, "height": 24, "gtboxes": [
        {"tag": "person", "fbox": [1, 2, 10, 20]}, {"tag": "mask", "fbox": [12, 2, 10, 20]}]}) + "\n")
    names = ["pedet_test_twelfth_one", "pedet_test_twelfth_two"]
    for name in names:
        register_crowdhuman(name, odgt, str(tmp_path))
    try:
        write_image(tmp_path / "a.jpg", 24, 32)
        first, second = (DatasetCatalog.get(n) for n in names)
        assert first == second and [a["category_id"] for a in first[0]["annotations"]] == [0, -1]
    finally:
        for name in names:
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


NAME_240 = "n" * 235 + ".json"  # legal (at most 255 bytes), but the temporary's added 30+ bytes are not


def test_converter_writes_an_output_whose_name_is_long_but_legal(tmp_path, capsys):
    line = {"ID": "a", "width": 32, "height": 24, "gtboxes": [{"tag": "person", "fbox": [1, 2, 10, 20]}]}
    src = write_file(tmp_path / "a.odgt", json.dumps(line) + "\n")
    assert convert(["odgt2coco", src, str(tmp_path / NAME_240)]) == 0
    assert json.loads((tmp_path / NAME_240).read_text())["images"][0]["crowdhuman_id"] == "a"
    assert sorted(os.listdir(tmp_path)) == sorted(["a.odgt", NAME_240])


def test_a_killed_save_of_a_long_name_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    # the temporary of a writer that died (a pid of as many digits as ours that no process has), name shortened
    from pedet.utils import file_io

    pid = str(os.getpid())
    dead = next(p for p in range(10 ** len(pid) - 1, 0, -1) if not file_io._process_is_alive(p))
    stale = os.path.basename(file_io._temporary_path(str(tmp_path / NAME_240)))
    stale = stale.replace(f".{pid}.", f".{dead}.")
    (tmp_path / stale).write_text("half")
    assert len(stale.encode()) <= 255 and NAME_240 not in stale
    atomic_write(str(tmp_path / NAME_240), "{}")
    assert os.listdir(tmp_path) == [NAME_240]
    (tmp_path / stale).write_text("half")
    assert remove_stale_temporaries(str(tmp_path)) == [str(tmp_path / stale)]


def test_a_name_over_the_limit_names_the_file_asked_for(tmp_path):
    path = tmp_path / ("n" * 256)
    with pytest.raises(OSError) as e:
        atomic_write(str(path), "x")
    assert e.value.strerror == f"'{'n' * 18}...{'n' * 18}' is 256 bytes long; file names have at most 255"
    assert e.value.filename == str(path) and os.listdir(tmp_path) == []


@pytest.mark.parametrize("option", ["--out", "--root", "--preview"])
def test_synthetic_name_over_the_limit_is_refused_before_rendering(tmp_path, capsys, option):
    """Before: --preview rendered the whole split, then "[Errno 36] File name too long" naming a temporary file."""
    long = "z" * 300
    argv = ["--out", str(tmp_path / "set"), "--num-images", "1", "--size", "64", "64"]
    if option == "--out":
        argv[1] = str(tmp_path / long)
    else:
        argv = (["--root", str(tmp_path / long), "--preset", "cpu"] if option == "--root"
                else argv + ["--preview", str(tmp_path / f"{long}.png")])
    with pytest.raises(SystemExit) as e:
        syn.main(argv)
    assert e.value.code == 2
    name = long + (".png" if option == "--preview" else "")
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"python -m pedet.data.synthetic: error: {option}: '{name[:18]}...{name[-18:]}' is {len(name)} bytes long; "
        "file names have at most 255")
    assert os.listdir(tmp_path) == []


def test_converter_output_name_over_the_limit_is_refused_before_the_conversion(tmp_path, capsys):
    line = {"ID": "a", "width": 32, "height": 24, "gtboxes": [{"tag": "person", "fbox": [1, 2, 10, 20]}]}
    src = write_file(tmp_path / "a.odgt", json.dumps(line) + "\n")
    out = tmp_path / ("o" * 251 + ".json")
    assert convert(["odgt2coco", src, str(out)]) == 1
    assert capsys.readouterr().err == (f"error: {out}: '{out.name[:18]}...{out.name[-18:]}' is 256 bytes long; "
                                       "file names have at most 255\n")


def test_synthetic_file_error_has_no_errno_prefix(tmp_path, capsys, monkeypatch):
    """Before: "error: [Errno 28] No space left on device: '<file>'"."""
    import errno

    target = str(tmp_path / "set" / "annotation_train.odgt")

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)

    monkeypatch.setattr(syn, "generate_synthetic_crowd", disk_full)
    assert syn.main(["--out", str(tmp_path / "set"), "--num-images", "1", "--size", "64", "64"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {target}: No space left on device"


@pytest.mark.parametrize("names", [[], ()])
def test_pedestrian_dataset_dicts_of_no_name_say_so(names):
    """Before: detectron2's bare "AssertionError: []"."""
    from pedet.data import get_pedestrian_dataset_dicts

    with pytest.raises(ValueError, match=r"^get_pedestrian_dataset_dicts: no data set name given \(an empty "
                                         r"DATASETS.TRAIN or TEST\?\)$"):
        get_pedestrian_dataset_dicts(names)


@pytest.mark.parametrize("edit", ["a line removed", "a line repeated under another ID"])
def test_a_synthetic_split_edited_after_generation_is_an_error_not_fewer_images(tmp_path, edit):
    """Before: the meta file alone said the split was current, so the edited file's images were loaded without a
    word (1 image of a 2-image split)."""
    import dataclasses

    spec = dataclasses.replace(syn.PRESETS["cpu"]["sparse"], num_images=2, image_size=(64, 64))
    name = syn.register_synthetic_crowd(str(tmp_path), {"p": {"s": spec}}, prefix="pedet_test_twelfth_syn")[0]
    try:
        assert len(DatasetCatalog.get(name)) == 2
        odgt = tmp_path / "synthetic_crowd" / "p" / "annotation_s.odgt"
        lines = odgt.read_text().splitlines()
        if edit == "a line removed":
            lines = lines[:1]
        else:
            lines.append(lines[0].replace('"p_s_000000"', '"p_s_000002"'))
            shutil.copyfile(tmp_path / "synthetic_crowd" / "p" / "Images" / "p_s_000000.jpg",  # a hard link is the
                            tmp_path / "synthetic_crowd" / "p" / "Images" / "p_s_000002.jpg")  # same file: refused
        odgt.write_text("\n".join(lines) + "\n")
        with pytest.raises(DatasetFormatError, match=rf"^{odgt}: {len(lines)} image\(s\), but the split 'p/s' has 2; "
                                                     "the file was changed after it was generated: remove it to "
                                                     "generate the split again$"):
            DatasetCatalog.get(name)
        odgt.unlink()
        assert len(DatasetCatalog.get(name)) == 2
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
