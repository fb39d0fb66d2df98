"""
Twenty-fourth bad-input trial (issue 11), aimed at the newest checks; the cases that fit a table are in the existing
tables (OPL's Detectron2 keys: test_bad_input_seventeenth_model). These are the others:

- A COCO-style ground truth with a 'details' object naming a 'protocol' of its own (next to 'images' and
  'annotations') was refused as a metrics file.
- The selection hold-out of a TRAIN list that names a set twice (legal since the twentieth trial) could draw two
  copies of one image, and TRAIN sets that number their images alike (two register_coco_instances files, both from
  id 1) two images with one image_id: the evaluator refused the hold-out ("duplicate image id") at the first
  evaluation, after training had run.
"""
import json
import logging

import pytest
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from pedet.config import add_pedet_config
from pedet.data.selection import exclude_selection_holdout, selection_dataset
from pedet.evaluation.__main__ import main as evaluate_main
from pedet.evaluation.io import ground_truth_from_dataset_dicts


def test_a_coco_ground_truth_with_a_details_object_evaluates(tmp_path, capsys):
    gt = {"images": [{"id": 1, "width": 2048, "height": 1024}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 100, 41, 100],
                           "vis_bbox": [100, 100, 41, 100], "height": 100, "vis_ratio": 1.0, "ignore": 0}],
          "details": {"protocol": "citypersons", "source": "our relabelling"}}
    dt = [{"image_id": 1, "category_id": 1, "bbox": [100, 100, 41, 100], "score": 0.9}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    rc = evaluate_main(["--protocol", "citypersons", "--gt", str(tmp_path / "gt.json"), "--dt",
                        str(tmp_path / "dt.json"), "--out", str(tmp_path / "metrics.json")])
    assert rc == 0 and capsys.readouterr().err == ""
    assert json.loads((tmp_path / "metrics.json").read_text())["Reasonable"] == 0.0


def _register(name, folder):
    """Three images numbered 0, 1, 2 (as two COCO files numbered alike would be), one person each."""
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: [
            {"file_name": f"{folder}/{i}.jpg", "image_id": i, "height": 64, "width": 64,
             "annotations": [{"bbox": [1, 1, 10, 30], "bbox_mode": 1, "category_id": 0}]} for i in range(3)])
        MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="crowdhuman")
    return name


def _holdout(train, holdout):
    cfg = get_cfg()
    add_pedet_config(cfg)
    cfg.DATASETS.TRAIN = train
    cfg.DATASETS.SELECTION_HOLDOUT = holdout
    dicts = DatasetCatalog.get(selection_dataset(cfg))
    kept = exclude_selection_holdout(cfg, [d for n in train for d in DatasetCatalog.get(n)])
    return dicts, kept


@pytest.mark.parametrize("second,expected", [
    ("twentyfourth_a", "repeat a held-out image (DATASETS.TRAIN lists an image more than once); each image is "
                       "evaluated once: 1 images"),  # seed 0 draws both copies of image 2
    ("twentyfourth_b", "images of different files share an image_id"),
])
def test_the_selection_holdout_evaluates_each_image_once_under_its_own_id(caplog, second, expected):
    train = (_register("twentyfourth_a", "/data/a"), _register(second, f"/data/{second[-1]}"))
    with caplog.at_level(logging.WARNING):
        dicts, kept = _holdout(train, 2)
    assert expected in caplog.text
    files = [d["file_name"] for d in dicts]
    assert len(set(files)) == len(files) and not {d["file_name"] for d in kept} & set(files)
    assert len(kept) == 6 - (2 if second == "twentyfourth_a" else len(files))
    gt = ground_truth_from_dataset_dicts(dicts)  # was EvalInputError: duplicate image id 2
    assert len(gt.image_ids) == len(dicts)


def test_resume_names_the_optimizer_values_that_the_checkpoint_keeps(tmp_path, caplog):
    """SOLVER.WEIGHT_DECAY / MOMENTUM changed on --resume: torch's Optimizer.load_state_dict restores the checkpointed
    run's values (as Detectron2 main does), which was silent."""
    from .test_bad_input_twentieth_model import _trainer

    first = _trainer(tmp_path)
    first.iter = 9
    first.checkpointer.save("model_0000009")
    resumed = _trainer(tmp_path, "SOLVER.WEIGHT_DECAY", "0.1", "SOLVER.MOMENTUM", "0.5")
    with caplog.at_level(logging.WARNING):
        resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 10
    momentum = [g["momentum"] for g in first.optimizer.param_groups]
    assert [g["momentum"] for g in resumed.optimizer.param_groups] == momentum
    assert (f"{tmp_path / 'model_0000009.pth'}: its optimizer state keeps the checkpointed run's values of "
            "SOLVER.WEIGHT_DECAY / WEIGHT_DECAY_NORM / WEIGHT_DECAY_BIAS; SOLVER.MOMENTUM (as in Detectron2): this "
            "config's differ and take no effect on --resume") in caplog.text


def test_resume_names_a_base_lr_that_the_checkpoint_keeps(tmp_path, caplog):
    """SOLVER.BASE_LR changed on --resume: the LR scheduler's state restores the checkpointed run's base learning
    rate (as in Detectron2), without a word while weight decay and momentum were named."""
    from .test_bad_input_twentieth_model import _trainer

    first = _trainer(tmp_path)
    first.iter = 9
    first.checkpointer.save("model_0000009")
    base_lr = first.cfg.SOLVER.BASE_LR
    for lr, warned in ((base_lr, False), (base_lr * 10, True)):
        caplog.clear()
        resumed = _trainer(tmp_path, "SOLVER.BASE_LR", repr(lr))
        with caplog.at_level(logging.WARNING):
            resumed.resume_or_load(resume=True)
        assert resumed.start_iter == 10 and max(resumed.scheduler.base_lrs) == base_lr
        assert ("its LR scheduler keeps the checkpointed run's base learning rate" in caplog.text) == warned
