"""
Seventeenth bad-input trial, model side (issue 11): the habits of a Detectron2 user meeting pedet for the first time.
A COCO-style set registered with register_coco_instances (persons and cars) fed to OPL / Faster R-CNN, Detectron2
builtin sets whose loader needs a package that is not installed, and RetinaNet's / the ROI heads' test keys set on
OPL, which reads its own MODEL.OPL keys.
"""
import json
import logging
import os

import numpy as np
import pytest

from ..scripts import OPL_TINY

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPLOSS_TINY = os.path.join(REPO, "projects", "RepLoss", "configs", "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml")


def _cfg(project: str, *opts):
    from detectron2.config import get_cfg

    from pedet.config import add_pedet_config

    cfg = get_cfg()
    add_pedet_config(cfg)
    if project == "OPL":
        from opl import add_opl_config

        add_opl_config(cfg)
        cfg.merge_from_file(OPL_TINY)
    else:
        from reploss import add_reploss_config

        add_reploss_config(cfg)
        cfg.merge_from_file(REPLOSS_TINY)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "DATALOADER.NUM_WORKERS", "0", "SOLVER.IMS_PER_BATCH", "1", *opts])
    return cfg


@pytest.fixture
def coco_sets(tmp_path):
    """Two COCO-style sets registered as a Detectron2 user does: persons (category 1) and cars (category 3); persons
    only, with an iscrowd box."""
    import cv2
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets import register_coco_instances

    images = []
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), np.full((64, 64, 3), 100 + 40 * i, np.uint8))
        images.append({"id": i + 1, "file_name": f"{i}.jpg", "height": 64, "width": 64})
    boxes = [(1, 1, [10, 10, 12, 30], 0), (1, 3, [30, 30, 20, 10], 0), (2, 1, [5, 5, 40, 40], 1),
             (2, 1, [20, 10, 10, 30], 0)]
    anns = [{"id": k + 1, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": crowd}
            for k, (i, c, b, crowd) in enumerate(boxes)]
    person, car = {"id": 1, "name": "person"}, {"id": 3, "name": "car"}
    (tmp_path / "mixed.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                     "categories": [person, car]}))
    (tmp_path / "person.json").write_text(json.dumps({"images": images, "categories": [person],
                                                      "annotations": [a for a in anns if a["category_id"] == 1]}))
    names = {"mixed": "_t17_coco_mixed", "person": "_t17_coco_person"}
    for kind, name in names.items():
        register_coco_instances(name, {}, str(tmp_path / f"{kind}.json"), str(tmp_path))
    yield names
    for name in names.values():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


@pytest.mark.parametrize("project,key", [("OPL", "MODEL.OPL.NUM_CLASSES"), ("RepLoss", "MODEL.ROI_HEADS.NUM_CLASSES")])
def test_a_training_set_with_a_class_the_model_lacks_is_one_error(coco_sets, project, key):
    """Persons and cars from register_coco_instances (contiguous ids 0 and 1) on a one-class model: OPL stopped with
    an IndexError traceback in its assignment; Faster R-CNN trained the cars as objects in the RPN and as background in
    the ROI heads, in silence. A persons-only set (its iscrowd box an ignore box) still builds."""
    from pedet.data.build import build_pedestrian_train_loader
    from pedet.data.common import DatasetFormatError

    cfg = _cfg(project, "DATASETS.TRAIN", f"('{coco_sets['mixed']}',)")
    with pytest.raises(DatasetFormatError) as e:
        build_pedestrian_train_loader(cfg)
    assert str(e.value).startswith(f"DATASETS.TRAIN {coco_sets['mixed']}: ")
    assert "0.jpg (image_id 1): a box of category_id 1 (car), but the model has 1 class(es) " \
           f"({key} 1)" in str(e.value)
    cfg = _cfg(project, "DATASETS.TRAIN", f"('{coco_sets['person']}',)")
    batch = next(iter(build_pedestrian_train_loader(cfg)))
    assert set(batch[0]["instances"].gt_classes.tolist()) <= {0, -1}


def test_a_data_set_whose_loader_needs_a_missing_package_is_one_error():
    """Detectron2's builtin lvis_v1_train needs the lvis package: its ModuleNotFoundError was a traceback."""
    from detectron2.data import DatasetCatalog

    from pedet.data.build import get_pedestrian_dataset_dicts
    from pedet.data.common import DatasetFormatError

    def load():
        raise ModuleNotFoundError("No module named 'nosuchpkg17'", name="nosuchpkg17")

    DatasetCatalog.register("_t17_needs_a_package", load)
    try:
        with pytest.raises(DatasetFormatError) as e:
            get_pedestrian_dataset_dicts(["_t17_needs_a_package"])
    finally:
        DatasetCatalog.remove("_t17_needs_a_package")
    assert str(e.value) == ("data set(s) _t17_needs_a_package: the loader needs the Python package 'nosuchpkg17', "
                            "which is not installed")


_ANCHOR_FREE = ("; OPL is anchor-free: one location per feature cell, at the cell's centre (offset 0.5), with the "
                "levels of MODEL.OPL.IN_FEATURES")


@pytest.mark.parametrize("key,value,hint", [
    ("MODEL.RETINANET.SCORE_THRESH_TEST", "0.5", "; set MODEL.OPL.SCORE_THRESH_TEST"),
    ("MODEL.RETINANET.NMS_THRESH_TEST", "0.3", "; set MODEL.OPL.NMS_THRESH_TEST"),
    ("MODEL.RETINANET.TOPK_CANDIDATES_TEST", "10", "; set MODEL.OPL.TOPK_CANDIDATES_TEST"),
    ("MODEL.RETINANET.FOCAL_LOSS_GAMMA", "3.0", "; set MODEL.OPL.FOCAL_GAMMA"),
    ("MODEL.RETINANET.FOCAL_LOSS_ALPHA", "0.5", "; set MODEL.OPL.FOCAL_ALPHA"),
    ("MODEL.RETINANET.IN_FEATURES", "['p3']", "; set MODEL.OPL.IN_FEATURES"),
    ("MODEL.RETINANET.NUM_CLASSES", "1", "; set MODEL.OPL.NUM_CLASSES"),
    ("MODEL.RETINANET.SMOOTH_L1_LOSS_BETA", "0.0", ""),
    ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.5", "; set MODEL.OPL.SCORE_THRESH_TEST"),
    ("MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.6", "; set MODEL.OPL.NMS_THRESH_TEST"),
    # nineteenth trial: the anchor keys of RetinaNet / an FCOS port moved nothing on the anchor-free OPL, in silence
    ("MODEL.ANCHOR_GENERATOR.OFFSET", "0.25", _ANCHOR_FREE),
    ("MODEL.ANCHOR_GENERATOR.SIZES", "[[16], [32], [64], [128], [256]]", _ANCHOR_FREE),
    ("MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", "[[0.41]]", _ANCHOR_FREE),
])
def test_opl_refuses_detectron2_keys_it_does_not_read(key, value, hint):
    """RetinaNet's keys (and the ROI heads' test thresholds that Detectron2's DefaultPredictor examples set) were
    accepted on an OPL config and had no effect, in silence."""
    import yaml

    from opl.config import check_opl_config
    from pedet.config import ConfigError

    cfg = _cfg("OPL", key, value)
    with pytest.raises(ConfigError) as e:
        check_opl_config(cfg)
    shown = yaml.safe_load(value)
    assert str(e.value) == (f"error: config: {key} {shown!r}: OPL does not read it (its model's keys are "
                            f"MODEL.OPL.*){hint}")


def test_opl_accepts_detectron2_keys_left_at_their_defaults():
    """Only changed values are refused: a key repeated at Detectron2's default, and the keys of a Faster R-CNN
    config, pass."""
    from opl.config import check_opl_config

    check_opl_config(_cfg("OPL", "MODEL.RETINANET.SCORE_THRESH_TEST", "0.05", "MODEL.ROI_HEADS.NUM_CLASSES", "1"))
    check_opl_config(_cfg("OPL", "MODEL.ANCHOR_GENERATOR.OFFSET", "0.5"))  # what OPL does (nineteenth trial)
    # Detectron2's defaults written with tuples (yacs makes only the outer one a list): were refused (24th trial)
    check_opl_config(_cfg("OPL", "MODEL.ANCHOR_GENERATOR.SIZES", "((32, 64, 128, 256, 512),)",
                          "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", "((0.5, 1.0, 2.0),)"))


_PERSON = {"bbox": [10, 10, 12, 30], "bbox_mode": 1, "category_id": 0}  # 1 = BoxMode.XYWH_ABS


@pytest.mark.parametrize("change,message", [
    ({"bbox_mode": None}, "annotations[0] has no 'bbox_mode' (Detectron2's dataset dicts need bbox, bbox_mode and "
                          "category_id)"),
    ({"bbox": None}, "annotations[0] has no 'bbox' (Detectron2's dataset dicts need bbox, bbox_mode and category_id)"),
    ({"category_id": None}, "annotations[0] has no 'category_id' (Detectron2's dataset dicts need bbox, bbox_mode and "
                            "category_id)"),
    ({"bbox_mode": 4}, "annotations[0]: bbox_mode 4 (XYWHA_ABS) is not supported (BoxMode.XYXY_ABS or "
                       "BoxMode.XYWH_ABS: the pedestrian boxes are absolute and axis-aligned)"),
    ({"bbox_mode": 2}, "annotations[0]: bbox_mode 2 (XYXY_REL) is not supported"),
    ({"bbox_mode": "XYWH_ABS"}, "annotations[0]: bbox_mode 'XYWH_ABS' is not supported"),
    ({"bbox_mode": True}, "annotations[0]: bbox_mode True is not supported"),
    ({"bbox": [1, 2, 3]}, "annotations[0]: bbox [1, 2, 3] is not 4 numbers"),
    ({"bbox": [1, 2, 3, 4, 5]}, "annotations[0]: bbox [1, 2, 3, 4, 5] is not 4 numbers"),
    ({"bbox": ["1", "2", "3", "4"]}, "annotations[0]: bbox ['1', '2', '3', '4'] is not 4 numbers"),
    ({"category_id": "person"}, "annotations[0]: category_id 'person' is not an integer (0 = person, -1 = ignore "
                                "region)"),
    ("a list", "annotations[0] is a list, not a dict"),
    # found by mutating hand-registered records (a scratch fuzzer): an OverflowError traceback
    ({"category_id": float("-inf")}, "annotations[0]: category_id -inf is not an integer"),
])
def test_a_hand_registered_record_the_mapper_cannot_read_is_one_error(tmp_path, change, message):
    """Records registered with DatasetCatalog.register without a key of Detectron2's dataset format, with a rotated or
    relative box mode, or a box of 3 or 5 numbers: KeyError, TypeError and bare asserts from BoxMode.convert, each a
    traceback without the record, in the mapper (a DataLoader worker) or already in the loader."""
    import cv2
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.data.build import build_pedestrian_train_loader
    from pedet.data.common import DatasetFormatError
    from pedet.data.mapper import PedestrianDatasetMapper

    image = str(tmp_path / "a.jpg")
    cv2.imwrite(image, np.full((64, 64, 3), 90, np.uint8))
    if change == "a list":
        ann = [10, 10, 12, 30]
    else:
        ann = {**_PERSON, **change}
        ann = {k: v for k, v in ann.items() if v is not None}
    record = {"file_name": image, "image_id": 5, "height": 64, "width": 64, "annotations": [ann]}
    where = f"image '{image}' (image_id 5): "
    cfg = _cfg("OPL", "DATASETS.TRAIN", "('_t17_by_hand',)")
    with pytest.raises(DatasetFormatError) as e:
        PedestrianDatasetMapper(cfg, True)(record)
    assert str(e.value).startswith(where + message)
    DatasetCatalog.register("_t17_by_hand", lambda: [record])
    MetadataCatalog.get("_t17_by_hand").set(thing_classes=["person"])
    try:
        with pytest.raises(DatasetFormatError) as e:
            next(iter(build_pedestrian_train_loader(cfg)))
    finally:
        DatasetCatalog.remove("_t17_by_hand")
        MetadataCatalog.remove("_t17_by_hand")
    assert str(e.value).startswith(where + message)


@pytest.mark.parametrize("change", [{"bbox_mode": 0, "bbox": (10, 10, 22, 40)}, {"bbox": np.array([10., 10, 12, 30])},
                                    {"category_id": "0"}, {"bbox": [np.float32(10), 10, 12, 30]}])
def test_records_detectron2s_mapper_takes_still_map(change):
    """The check refuses no value Detectron2's DatasetMapper takes: XYXY_ABS, a tuple, an array, a category_id '0'."""
    from pedet.data.mapper import check_annotations

    check_annotations([{**_PERSON, **change}], "x")


_ZOO = ("COCO-Detection/retinanet_R_50_FPN_1x.yaml", "COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml")


@pytest.mark.parametrize("zoo", _ZOO)
@pytest.mark.parametrize("entry", ["demo", "export", "RepLoss"])
def test_a_detectron2_model_zoo_config_is_named_by_its_architecture(zoo, entry):
    """A Detectron2 model-zoo config (RetinaNet, GeneralizedRCNN) given to the demo, the export or RepLoss's check
    was told "MODEL.RPN.IN_FEATURES ['res4']: must be among the backbone's outputs" (RetinaNet) instead of the key
    that is wrong."""
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    from opl import add_opl_config
    from pedet.config import ConfigError, add_pedet_config
    from pedet.utils.imports import load_script
    from reploss import add_reploss_config
    from reploss.config import check_reploss_config

    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_file(model_zoo.get_config_file(zoo))
    cfg.MODEL.DEVICE = "cpu"
    arch = cfg.MODEL.META_ARCHITECTURE
    if entry == "RepLoss":
        check, who = check_reploss_config, None
    else:
        path = "demo/demo.py" if entry == "demo" else "tools/export.py"
        module = load_script(os.path.join(REPO, path))
        check, who = (module.check_model_keys if entry == "demo" else module.check_export_config), f"the {entry}"
    with pytest.raises(ConfigError) as e:
        check(cfg)
    if who:
        assert str(e.value) == f"error: config: MODEL.META_ARCHITECTURE {arch!r}: {who} runs OPL or PedestrianRCNN " \
                               "(or a subclass)"
    else:
        assert str(e.value).startswith(f"error: config: MODEL.META_ARCHITECTURE {arch!r}: must be PedestrianRCNN")


@pytest.mark.parametrize("opts,named", [
    (["MODEL.WEIGHTS", "m.pth"], "MODEL.WEIGHTS"),
    (["MODEL.FPN.OUT_CHANNELS", "32", "TEST.DETECTIONS_PER_IMAGE", "5", "MODEL.OPL.SCORE_THRESH_TEST", "0.5"],
     "TEST.DETECTIONS_PER_IMAGE, MODEL.OPL.SCORE_THRESH_TEST"),
    (["MODEL.FPN.OUT_CHANNELS", "32"], None),
    # twentieth trial: keys the graph also fixes (its normalisation, no NMS), ignored in silence
    (["MODEL.OPL.NMS_ON", "True", "MODEL.OPL.NMS_THRESH_TEST", "0.5"], "MODEL.OPL.NMS_ON, MODEL.OPL.NMS_THRESH_TEST"),
    (["MODEL.PIXEL_MEAN", "[0.0, 0.0, 0.0]", "MODEL.PIXEL_STD", "[2.0, 2.0, 2.0]", "INPUT.FORMAT", "RGB"],
     "MODEL.PIXEL_MEAN, MODEL.PIXEL_STD"),
])
def test_demo_with_onnx_says_which_overrides_the_graph_ignores(tmp_path, opts, named):
    """With --onnx the graph holds the weights and the test settings: MODEL.WEIGHTS (also a missing file) and the
    score threshold were ignored in silence. A warning, not an error, as repeating the export's overrides is common."""
    import logging

    from pedet.utils.imports import load_script

    demo = load_script(os.path.join(REPO, "demo", "demo.py"))
    image, graph = tmp_path / "a.jpg", tmp_path / "not_a_graph.onnx"
    image.write_bytes(b"\0")
    graph.write_bytes(b"\0")
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logging.getLogger("pedet.demo").addHandler(handler)
    try:
        with pytest.raises(demo.InputError, match="ONNX Runtime cannot load it"):  # after the warning
            demo.main(["--config-file", OPL_TINY, "--input", str(image), "--onnx", str(graph), "--no-gt", "--opts",
                       "MODEL.OPL.GN_NUM_GROUPS", "8", *opts])
    finally:
        logging.getLogger("pedet.demo").removeHandler(handler)
    messages = [r.getMessage() for r in records if "--onnx" in r.getMessage()]
    warning = f"--opts {named}: not read with --onnx: the exported graph's own weights, score threshold, top-k, " \
              "detections per image and pixel mean / std apply, without NMS (export again with tools/export.py to " \
              "change them)"
    assert messages == ([warning] if named else [])


def test_the_class_check_shows_the_category_id_as_registered():
    """A hand-registered category_id True (int() reads 1) was named 'category_id 1' in the error."""
    from pedet.data.build import check_categories
    from pedet.data.common import DatasetFormatError

    dicts = [{"file_name": "a.jpg", "image_id": "a", "annotations": [{"bbox": [0, 0, 5, 9], "bbox_mode": 1,
                                                                       "category_id": True}]}]
    with pytest.raises(DatasetFormatError, match=r"a\.jpg \(image_id a\): a box of category_id True, but the model "
                                                 r"has 1 class\(es\)"):
        check_categories(dicts, _cfg("OPL"))


@pytest.mark.parametrize("classes, warned", [(["car"], True), (["Pedestrian"], False), (["person"], False)])
def test_a_training_set_whose_class_0_is_no_person_is_named(caplog, classes, warned):
    """A car-only set registered with register_coco_instances (contiguous id 0) trained as the person class in
    silence; pedet's own sets (class 'person') and a 'pedestrian' set say nothing."""
    from detectron2.data import MetadataCatalog

    from pedet.data.build import check_categories

    name = "_t_class0_" + classes[0]
    MetadataCatalog.get(name).thing_classes = classes
    try:
        with caplog.at_level(logging.WARNING, logger="pedet.data.build"):
            check_categories([{"file_name": "a.jpg", "image_id": "a", "annotations": [
                {"bbox": [0, 0, 5, 9], "bbox_mode": 1, "category_id": 0}]}], _cfg("OPL", "DATASETS.TRAIN", f"('{name}',)"))
    finally:
        MetadataCatalog.remove(name)
    message = f"DATASETS.TRAIN {name}: its class 0 is named {classes[0]!r}, not a person class"
    assert (message in caplog.text) == warned
