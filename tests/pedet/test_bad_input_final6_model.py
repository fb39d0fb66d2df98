"""
Bad input found by the sixth final model-side trial (issue 11): the CrowdHuman visible-body mode
(``TEST.MISS_RATE.BOX visible``, ``MissRateEvaluator(box="visible")``) on records without visible boxes, e.g. a set
registered with Detectron2's ``register_coco_instances``: every person box was scored with its full box, and the
result was the full-body one, without a word. pedet's own loaders give every annotation a ``vis_bbox``.

- ``DATASETS.SELECTION`` with ``TEST.MISS_RATE.PROTOCOL``: the best checkpoint was ranked by the key of the set's own
  evaluator_type, which the evaluation (stored under the configured protocol) never wrote, so no ``model_best.pth``
  was kept, without a word; a selection set registered without evaluator_type (``register_coco_instances``, for
  which the config check asks for ``TEST.MISS_RATE.PROTOCOL``) stopped the trainer with a KeyError traceback.
- docs/DEPLOYMENT.md called ``auto`` the default ``--dist-url`` of detectron2's parser; v0.6's is
  ``tcp://127.0.0.1:PORT``, so the two-machine command without ``--dist-url`` waited 30 minutes at the rendezvous.
"""
import warnings

import pytest
import torch

from pedet.evaluation.io import EvalInputError, EvalInputWarning, ground_truth_from_dataset_dicts

from .test_bad_input_seventeenth_model import _cfg, coco_sets  # noqa: F401  (a fixture)


def _dicts(vis=(None, None)):
    anns = [{"bbox": [10, 10, 20, 50], "bbox_mode": 1, "category_id": 0, "iscrowd": 0},
            {"bbox": [60, 10, 20, 50], "bbox_mode": 1, "category_id": 0, "iscrowd": 0},
            {"bbox": [120, 10, 40, 60], "bbox_mode": 1, "category_id": 0, "iscrowd": 1}]  # an ignore region
    for a, v in zip(anns, vis):
        if v is not None:
            a["vis_bbox"] = v
    return [{"image_id": 7, "file_name": "a.jpg", "width": 200, "height": 100, "annotations": anns}]


def test_visible_mode_on_records_without_any_visible_box_is_an_error():
    with pytest.raises(EvalInputError) as e:
        ground_truth_from_dataset_dicts(_dicts(), box="visible", what="dataset 'coco_like'")
    assert str(e.value).startswith(
        "dataset 'coco_like': box 'visible' (CrowdHuman visible-body mode), but none of the 2 person boxes has a "
        "'vis_bbox': their full boxes would be scored as visible ones; evaluate with box 'full' "
        "(TEST.MISS_RATE.BOX full) or give the annotations a 'vis_bbox'; first: ")
    assert "7" in str(e.value)  # names the image


def test_visible_mode_with_some_boxes_without_a_visible_box_warns_with_the_count():
    with pytest.warns(EvalInputWarning, match=r"box 'visible': 1 of 2 person boxes have no 'vis_bbox' and are "
                                              r"scored with their full box"):
        gt = ground_truth_from_dataset_dicts(_dicts(vis=([10, 10, 20, 25], None)), box="visible")
    assert gt.boxes[:2].tolist() == [[10, 10, 20, 25], [60, 10, 20, 50]]


@pytest.mark.parametrize("box,vis", [("full", (None, None)), ("visible", ([10, 10, 20, 25], [60, 10, 20, 30]))],
                         ids=["full mode without vis_bbox", "visible mode with every vis_bbox"])
def test_valid_records_give_no_warning(box, vis):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gt = ground_truth_from_dataset_dicts(_dicts(vis=vis), box=box)
    assert gt.boxes[1].tolist() == ([60, 10, 20, 50] if box == "full" else [60, 10, 20, 30])


def test_miss_rate_evaluator_in_visible_mode_refuses_a_set_without_visible_boxes():
    """End to end, as train_net --eval-only with TEST.MISS_RATE.BOX visible on a COCO-registered set ran it."""
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.structures import Boxes, Instances

    from pedet.evaluation import MissRateEvaluator

    DatasetCatalog.register("_tf6_no_vis", _dicts)
    MetadataCatalog.get("_tf6_no_vis").set(thing_classes=["person"])
    try:
        ev = MissRateEvaluator("_tf6_no_vis", distributed=False, protocol="crowdhuman", box="visible", plot=False)
        ev.reset()
        inst = Instances((100, 200), pred_boxes=Boxes(torch.tensor([[10.0, 10.0, 30.0, 60.0]])),
                         scores=torch.tensor([0.9]), pred_classes=torch.tensor([0]))
        ev.process([{"image_id": 7, "height": 100, "width": 200}], [{"instances": inst}])
        with pytest.raises(EvalInputError, match=r"^dataset '_tf6_no_vis': box 'visible' .* none of the 2 person "
                                                 r"boxes has a 'vis_bbox'"):
            ev.evaluate()
    finally:
        DatasetCatalog.remove("_tf6_no_vis")
        MetadataCatalog.remove("_tf6_no_vis")


@pytest.mark.parametrize("url", ["tcp://127.0.0.1:49152", "tcp://localhost:29500", "tcp://[::1]:29500"])
def test_a_multi_machine_job_on_a_loopback_dist_url_is_warned_about(capsys, url):
    """detectron2 v0.6's parser defaults to tcp://127.0.0.1:PORT (not "auto", which is refused with several
    machines): the documented two-machine command without --dist-url waited at the rendezvous for 30 minutes."""
    import argparse

    from pedet.engine.launch import check_launch_args

    check_launch_args(argparse.Namespace(num_gpus=1, num_machines=2, machine_rank=1, dist_url=url))
    err = capsys.readouterr().err
    assert err == (f"warning: --dist-url {url} is a loopback address (detectron2's default): with --num-machines 2 "
                   "the other machines cannot reach machine 0 there and every process waits until the rendezvous "
                   "times out; give machine 0's address, --dist-url tcp://HOST0:PORT, on every machine\n")


@pytest.mark.parametrize("num_machines,url", [(2, "tcp://10.0.0.1:29500"), (2, "tcp://node0.cluster:29500"),
                                              (1, "tcp://127.0.0.1:49152")])
def test_a_reachable_dist_url_or_one_machine_gives_no_warning(capsys, num_machines, url):
    import argparse

    from pedet.engine.launch import check_launch_args

    check_launch_args(argparse.Namespace(num_gpus=1, num_machines=num_machines, machine_rank=0, dist_url=url))
    assert capsys.readouterr().err == ""


def test_miss_rate_metric_follows_the_configured_protocol(coco_sets):
    from pedet.evaluation import miss_rate_metric

    assert miss_rate_metric(coco_sets["person"], "crowdhuman") == "crowdhuman/mMR"
    assert miss_rate_metric(coco_sets["person"], "citypersons") == "citypersons/Reasonable"
    with pytest.raises(KeyError, match="evaluator_type 'coco' has no miss-rate metric"):
        miss_rate_metric(coco_sets["person"])


@pytest.mark.parametrize("selection,protocol,metric", [
    ("crowdhuman-type set", "citypersons", "selection/citypersons/Reasonable"),
    ("COCO-registered set", "crowdhuman", "selection/crowdhuman/mMR"),
    ("crowdhuman-type set", "", "selection/crowdhuman/mMR"),  # its own evaluator_type (control)
])
def test_the_best_checkpoint_is_ranked_under_the_protocol_the_selection_set_is_evaluated_with(
        coco_sets, tmp_path, selection, protocol, metric):
    import os

    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.engine.trainer import ResumableBestCheckpointer
    from pedet.utils.imports import load_script

    from .test_bad_input_seventeenth_model import REPO

    # the persons of the COCO set, registered again as a crowdhuman-type set (pedet's loaders set evaluator_type)
    DatasetCatalog.register("_tf6_crowdhuman_type", lambda: DatasetCatalog.get(coco_sets["person"]))
    MetadataCatalog.get("_tf6_crowdhuman_type").set(thing_classes=["person"], evaluator_type="crowdhuman")
    try:
        sets = {"crowdhuman-type set": "_tf6_crowdhuman_type", "COCO-registered set": coco_sets["person"]}
        train = [name for key, name in sets.items() if key != selection][0]
        cfg = _cfg("OPL", "DATASETS.TRAIN", f"('{train}',)", "DATASETS.TEST", "()", "DATASETS.SELECTION",
                   sets[selection], "TEST.MISS_RATE.PROTOCOL", protocol, "TEST.EVAL_PERIOD", "1",
                   "OUTPUT_DIR", str(tmp_path / "run"))
        trainer = load_script(os.path.join(REPO, "projects", "OPL", "train_net.py")).Trainer(cfg)
        (best,) = [h for h in trainer._hooks if isinstance(h, ResumableBestCheckpointer)]
        assert best._val_metric == metric
    finally:
        DatasetCatalog.remove("_tf6_crowdhuman_type")
        MetadataCatalog.remove("_tf6_crowdhuman_type")


@pytest.mark.parametrize("opts,unused", [
    (["TEST.MISS_RATE.PROTOCOL", "citypersons"], ["TEST.MISS_RATE.PROTOCOL 'citypersons'"]),
    (["TEST.MISS_RATE.BOX", "visible", "TEST.MISS_RATE.MODE", "matlab"],
     ["TEST.MISS_RATE.MODE 'matlab'", "TEST.MISS_RATE.BOX 'visible'"]),
    (["TEST.MISS_RATE.SETUPS", "['Reasonable']"], ["TEST.MISS_RATE.SETUPS ['Reasonable']"]),
    (["TEST.MISS_RATE.PROTOCOL", "crowdhuman", "TEST.MISS_RATE.JI_ON", "False"], []),  # its own protocol; JI unused
    ([], []),
], ids=["protocol", "box and mode", "setups", "own protocol (valid)", "defaults (valid)"])
def test_nms_sweep_names_the_evaluation_settings_it_does_not_apply(opts, unused):
    """nms_sweep scores under the data set's own protocol with its defaults: TEST.MISS_RATE.PROTOCOL citypersons or
    BOX visible in its overrides swept crowdhuman's full boxes, without a word."""
    import os

    from pedet.utils.imports import load_script

    from .test_bad_input_seventeenth_model import REPLOSS_TINY, REPO

    nms_sweep = load_script(os.path.join(REPO, "projects", "RepLoss", "nms_sweep.py"))
    cfg = nms_sweep.load_cfg(REPLOSS_TINY, opts)
    assert nms_sweep.unused_miss_rate_keys(cfg, "synthetic_crowd_cpu_sparse") == unused
