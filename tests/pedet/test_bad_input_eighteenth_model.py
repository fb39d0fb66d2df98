"""
Eighteenth bad-input trial, model side (issue 11): the training loop and evaluation during training. A registered data
set whose function returns no record, or whose records all lose their boxes to DATALOADER.FILTER_EMPTY_ANNOTATIONS,
stopped train_net (at the start of training, or at the first TEST.EVAL_PERIOD evaluation) with Detectron2's bare
``AssertionError`` traceback ("Dataset 'x' is empty!", "No valid data found in x.").
"""
import os

import pytest

from .test_bad_input_seventeenth_model import REPO, _cfg

_IMAGE = os.path.join(REPO, "tests", "pedet", "_t18_unused.jpg")  # never read: the sets stop before mapping


def _records(kind):
    box = {"bbox": [5, 5, 12, 30], "bbox_mode": 1, "category_id": 0}
    ignore = dict(box, category_id=-1)
    return {
        "none": [],
        "no boxes": [{"file_name": _IMAGE, "image_id": i, "height": 64, "width": 64, "annotations": []}
                     for i in range(2)],
        "ignore only": [{"file_name": _IMAGE, "image_id": 0, "height": 64, "width": 64, "annotations": [ignore]}],
        "persons": [{"file_name": _IMAGE, "image_id": 0, "height": 64, "width": 64, "annotations": [box]}],
    }[kind]


@pytest.fixture
def registered():
    from detectron2.data import DatasetCatalog, MetadataCatalog

    names = []

    def register(kind):
        name = f"_t18_{kind.replace(' ', '_')}"
        DatasetCatalog.register(name, lambda: _records(kind))
        MetadataCatalog.get(name).set(thing_classes=["person"])
        names.append(name)
        return name

    yield register
    for n in names:
        DatasetCatalog.remove(n)
        MetadataCatalog.remove(n)


@pytest.mark.parametrize("kinds,filter_empty,message", [
    (["none"], False, "data set '_t18_none': its registered loader returned no image"),
    (["none"], True, "data set '_t18_none': its registered loader returned no image"),
    (["persons", "none"], False, "data set '_t18_none': its registered loader returned no image"),
    (["no boxes"], True, "data set(s) _t18_no_boxes: no image has a box (person or ignore box), and "
                         "DATALOADER.FILTER_EMPTY_ANNOTATIONS True drops images without one: nothing is left to train on"),
])
def test_a_set_that_leaves_no_image_is_one_error(registered, kinds, filter_empty, message):
    from pedet.data.build import get_pedestrian_dataset_dicts
    from pedet.data.common import DatasetFormatError

    names = [registered(k) for k in kinds]
    with pytest.raises(DatasetFormatError) as e:
        get_pedestrian_dataset_dicts(names, filter_empty=filter_empty)
    assert str(e.value) == message


@pytest.mark.parametrize("kind,filter_empty,num", [("no boxes", False, 2), ("ignore only", True, 1)])
def test_sets_detectron2_keeps_still_load(registered, kind, filter_empty, num):
    """Images without boxes with the filter off, and ignore-only images with it on, stay (as in Detectron2)."""
    from pedet.data.build import get_pedestrian_dataset_dicts

    assert len(get_pedestrian_dataset_dicts([registered(kind)], filter_empty=filter_empty)) == num


@pytest.mark.parametrize("project", ["OPL", "RepLoss"])
def test_an_empty_test_set_ends_evaluation_with_one_line(registered, tmp_path, project):
    """TEST.EVAL_PERIOD / --eval-only over two test sets, one empty: Trainer.test exits with one line."""
    from pedet.engine.launch import one_line_errors
    from pedet.utils.imports import load_script

    mod = load_script(os.path.join(REPO, "projects", project, "train_net.py"))
    cfg = _cfg(project, "DATASETS.TEST", f"('{registered('none')}',)", "TEST.MISS_RATE.PROTOCOL", "citypersons",
               "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "64", "OUTPUT_DIR", str(tmp_path))
    model = mod.Trainer.build_model(cfg)
    with pytest.raises(SystemExit) as e:
        with one_line_errors():
            mod.Trainer.test(cfg, model)
    assert e.value.code == "error: data set '_t18_none': its registered loader returned no image"


@pytest.mark.parametrize("threshold,factors", [(0.5, [1.0] * 10), (2.0, [2 ** 0.5] * 10)])
def test_repeat_factor_sampler_does_not_count_ignore_boxes_as_a_class(registered, monkeypatch, threshold, factors):
    """Detectron2 counted category_id -1 as a rare class: the one image with an ignore region was repeated 2.24 x."""
    import pedet.data.build as build

    seen = {}
    monkeypatch.setattr(build, "build_detection_train_loader", lambda cfg, **kw: seen.update(kw))
    box = {"bbox": [5, 5, 12, 30], "bbox_mode": 1, "category_id": 0}
    records = [{"file_name": _IMAGE, "image_id": i, "height": 64, "width": 64, "annotations": [box]} for i in range(9)]
    records.append(dict(records[0], image_id=9, annotations=[box, dict(box, category_id=-1)]))
    from detectron2.data import DatasetCatalog, MetadataCatalog

    DatasetCatalog.register("_t18_rfs", lambda: records)
    MetadataCatalog.get("_t18_rfs").set(thing_classes=["person"])
    try:
        build.build_pedestrian_train_loader(_cfg("OPL", "DATASETS.TRAIN", "('_t18_rfs',)", "DATALOADER.SAMPLER_TRAIN",
                                                 "RepeatFactorTrainingSampler", "DATALOADER.REPEAT_THRESHOLD",
                                                 str(threshold)))
    finally:
        DatasetCatalog.remove("_t18_rfs")
        MetadataCatalog.remove("_t18_rfs")
    sampler = seen["sampler"]  # Detectron2 keeps the factors as integer + fractional parts
    assert (sampler._int_part + sampler._frac_part).tolist() == pytest.approx(factors)
