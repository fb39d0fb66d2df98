import builtins
import os

import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from pedet.data.common import datasets_root

from .conftest import BENCHMARK_NAMES, fixture_root

EXPECTED_EVALUATOR = {
    "crowdhuman_train": "crowdhuman", "crowdhuman_val": "crowdhuman",
    "citypersons_train": "citypersons", "citypersons_train_lenient": "citypersons",
    "citypersons_train_all": "citypersons", "citypersons_val": "citypersons",
    "caltech_train": "caltech", "caltech_test": "caltech",
    "tju_ped_campus_train": "citypersons", "tju_ped_campus_val": "citypersons",
    "tju_ped_traffic_train": "citypersons", "tju_ped_traffic_val": "citypersons",
}


def test_import_registers_every_benchmark_with_metadata():
    for name, evaluator in EXPECTED_EVALUATOR.items():
        assert name in DatasetCatalog.list()
        meta = MetadataCatalog.get(name)
        assert meta.thing_classes == ["person"] and meta.evaluator_type == evaluator


def test_datasets_root_follows_the_environment_variable(monkeypatch):
    monkeypatch.delenv("DETECTRON2_DATASETS", raising=False)
    assert datasets_root() == "datasets"  # relative to the working directory, as in Detectron2
    monkeypatch.setenv("DETECTRON2_DATASETS", "/data/sets")
    assert datasets_root() == "/data/sets"


def test_registration_touches_no_disk(registered_under, monkeypatch, tmp_path):
    def no_disk(*args, **kwargs):
        raise AssertionError(f"registration touched the disk: {args}")

    with monkeypatch.context() as m:
        for module, attr in ((os, "stat"), (os, "listdir"), (os, "scandir"), (builtins, "open")):
            m.setattr(module, attr, no_disk)
        ctx = registered_under(str(tmp_path / "no_such_root"))
        ctx.__enter__()  # registers every benchmark name under the root, with the disk forbidden
    try:
        assert MetadataCatalog.get("crowdhuman_val").gt_file == str(tmp_path / "no_such_root" / "CrowdHuman"
                                                                    / "annotation_val.odgt")
    finally:
        ctx.__exit__(None, None, None)
    assert not (tmp_path / "no_such_root").exists()


@pytest.mark.parametrize("name, expected", [
    ("crowdhuman_val", "CrowdHuman/annotation_val.odgt"),
    ("citypersons_train", "cityscapes/gtBboxCityPersons/train"),
    ("citypersons_val", "cityscapes/gtBboxCityPersons/val_gt.json"),
    ("caltech_test", "Caltech/annotations_new/anno_test_1xnew"),
    ("tju_ped_traffic_val", "TJU-DHD/dhd_pedestrian/ped_traffic/annotations/dhd_pedestrian_traffic_val.json"),
])
def test_requested_dataset_with_missing_files_names_expected_path_and_readme(registered_under, tmp_path, name,
                                                                             expected):
    with registered_under(str(tmp_path)):
        with pytest.raises(FileNotFoundError) as e:
            DatasetCatalog.get(name)
    message = str(e.value)
    assert f"'{os.path.join(str(tmp_path), expected)}'" in message and "datasets/README.md" in message


def test_fixture_roots_load_through_the_registered_names(registered_under):
    # number of images per name in tests/fixtures/<benchmark>/
    expected = {"crowdhuman": {"crowdhuman_train": 3, "crowdhuman_val": 1},
                "citypersons": {"citypersons_train": 3, "citypersons_train_lenient": 3, "citypersons_train_all": 3,
                                "citypersons_val": 2},
                "caltech": {"caltech_train": 2, "caltech_test": 2},
                "tju": {f"tju_ped_{s}_{p}": 2 for s in ("campus", "traffic") for p in ("train", "val")}}
    assert sorted(n for names in expected.values() for n in names) == sorted(BENCHMARK_NAMES)
    for benchmark, counts in expected.items():
        with registered_under(fixture_root(benchmark)):
            for name, n in counts.items():
                dicts = DatasetCatalog.get(name)
                assert len(dicts) == n, name
                assert all(os.path.isfile(d["file_name"]) for d in dicts)
                assert MetadataCatalog.get(name).image_root.startswith(fixture_root(benchmark))
