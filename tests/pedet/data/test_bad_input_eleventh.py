"""
Eleventh bad-input trial of the data side (issue 11): the synthetic generator given an --out folder that holds a
folder named like the split's .odgt rendered the whole split, then said "error: [Errno 21] Is a directory: ..."; a
file named Images there was "error: [Errno 17] File exists: ...". Both are now found with the other arguments,
before any image is drawn.
"""
import pytest

from pedet.data import synthetic as syn


@pytest.mark.parametrize("name, is_folder, message", [
    ("annotation_train.odgt", True, "'{out}/annotation_train.odgt' is a folder; the split's file of that name is "
                                    "written there: move it away"),
    ("annotation_train.meta.json", True, "'{out}/annotation_train.meta.json' is a folder; the split's file of that "
                                         "name is written there: move it away"),
    ("Images", False, "'{out}/Images' is a file; the images are written into a folder of that name: move it away"),
])
def test_synthetic_out_holding_a_thing_in_the_way_fails_before_rendering(tmp_path, capsys, name, is_folder, message):
    out = tmp_path / "set"
    out.mkdir()
    (out / name).mkdir() if is_folder else (out / name).write_text("x")
    with pytest.raises(SystemExit) as e:
        syn.main(["--out", str(out), "--num-images", "1", "--size", "32", "32"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"python -m pedet.data.synthetic: error: {message.format(out=out)}"
    assert [p.name for p in out.iterdir()] == [name]


def test_synthetic_preset_folder_holding_a_folder_named_like_a_split_file_fails_before_rendering(tmp_path, capsys):
    folder = tmp_path / "synthetic_crowd" / "cpu" / "annotation_sparse.odgt"
    folder.mkdir(parents=True)
    with pytest.raises(SystemExit) as e:
        syn.main(["--root", str(tmp_path), "--preset", "cpu", "--split", "sparse"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"python -m pedet.data.synthetic: error: '{folder}' is a folder; the split's file of that name is written "
        "there: move it away")
    assert [p.name for p in folder.parent.iterdir()] == ["annotation_sparse.odgt"]
