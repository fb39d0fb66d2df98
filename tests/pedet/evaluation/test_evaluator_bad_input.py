"""
Bad-input catalogue of the Detectron2 path: ``MissRateEvaluator`` fed dataset dicts (``DatasetCatalog``) and model
outputs (``process``). Every case is an ``EvalInputError`` naming the data set, the image and what is wrong, a
``ValueError`` when the evaluator is built (not after a whole inference pass), or a documented result; nothing that
changes what counts as ground truth happens silently.
"""
import copy
import json
import math

import pytest
import torch

import pedet  # noqa: F401  (Pillow alias before detectron2.data)
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode, Boxes, Instances, RotatedBoxes
from pedet.evaluation import MissRateEvaluator
from pedet.evaluation.io import EvalInputError

NAN, INF = math.nan, math.inf


def _ann(**changes):
    """A regular person [10, 10, 20, 40] (XYWH) in pedet's record format; KeyError as a value removes the key."""
    a = {"bbox": [10.0, 10.0, 20.0, 40.0], "bbox_mode": BoxMode.XYWH_ABS, "category_id": 0, "iscrowd": 0,
         "ignore": 0, "vis_bbox": [10.0, 10.0, 20.0, 40.0], "vis_ratio": 1.0, "height": 40.0}
    for key, value in changes.items():
        a.pop(key) if value is KeyError else a.__setitem__(key, value)
    return a


def _one(**changes):
    """Dataset dicts of one image whose one annotation has `changes` (see _ann)."""
    return [_record(annotations=[_ann(**changes)])]


def _record(image_id="a", annotations="one person", **changes):
    r = {"file_name": f"{image_id}.jpg", "image_id": image_id, "height": 80, "width": 100,
         "annotations": [_ann()] if annotations == "one person" else annotations}
    for key, value in (("image_id", image_id), ("annotations", annotations)):
        if value is KeyError:
            del r[key]
    for key, value in changes.items():
        r.pop(key) if value is KeyError else r.__setitem__(key, value)
    return r


def _output(boxes=((10.0, 10.0, 30.0, 50.0),), scores=(0.9,)):
    """Model output at the original size: XYXY boxes (the default is the GT box exactly)."""
    inst = Instances((80, 100))
    inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
    inst.scores = torch.tensor(scores, dtype=torch.float32)
    return {"instances": inst}


_names = iter(range(10**6))


def _evaluator(dicts, protocol="crowdhuman", output_dir=None, **kwargs):
    name = f"_bad_input_{next(_names)}"
    DatasetCatalog.register(name, lambda: copy.deepcopy(dicts))
    MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type=protocol)
    return name, MissRateEvaluator(name, output_dir=output_dir, distributed=False, **kwargs)


def _evaluate(dicts, predictions=(("a", _output()),), protocol="crowdhuman", **kwargs):
    name, ev = _evaluator(dicts, protocol, **kwargs)
    ev.reset()
    for image_id, output in predictions:
        ev.process([{"image_id": image_id}], [output])
    return name, ev.evaluate()


# (case, dataset dicts, regex after "dataset '<name>': ")
DICT_ERRORS = {
    "record without image_id": ([_record(image_id=KeyError)], r"record 0 has no 'image_id'"),
    "image_id a list": ([_record(image_id=["a"])], r"record 0: 'image_id' \['a'\] is not a string or an integer"),
    "image_id None": ([_record(image_id=None)], r"record 0: 'image_id' None is not a string"),
    "image_id a float": ([_record(image_id=1.5)], r"record 0: 'image_id' 1.5 is not a string"),
    "image_id twice": ([_record(), _record()], r"duplicate image id 'a'"),
    "no annotations": ([_record(annotations=KeyError)], r"image 'a': no 'annotations'; the evaluator needs"),
    "annotations None": ([_record(annotations=None)], r"image 'a': 'annotations' is null"),
    "annotations a dict": ([_record(annotations={"bbox": [1, 2, 3, 4]})], r"image 'a': 'annotations' is an object"),
    # eighteenth trial: a tuple was called "a number"
    "annotations a tuple": ([_record(annotations=(_ann(),))], r"image 'a': 'annotations' is a tuple; the evaluator"),
    "width a string": ([_record(width="100")], r"image 'a': 'width' is a string"),
    "width negative": ([_record(width=-100)], r"image 'a': 'width' is -100, outside"),
    "height NaN": ([_record(height=NAN)], r"image 'a': 'height' is nan, not a finite number"),
    "annotation a list": ([_record(annotations=[[10, 10, 20, 40]])], r"image 'a': an annotation is a list"),
    "no bbox": (_one(bbox=KeyError), r"image 'a': an annotation has no 'bbox'"),
    "bbox None": (_one(bbox=None), r"image 'a': 'bbox' must be 4 numbers, got None"),
    "bbox 3 numbers": (_one(bbox=[1, 2, 3]), r"image 'a': 'bbox' must be 4 numbers, got \[1, 2, 3\]"),
    "bbox 3 numbers XYXY": (_one(bbox=[1, 2, 3], bbox_mode=BoxMode.XYXY_ABS),
                            r"image 'a': 'bbox' must be 4 numbers"),
    "bbox strings": (_one(bbox=["10", "10", "20", "40"]), r"image 'a': 'bbox' is a string"),
    "bbox a bool": (_one(bbox=[10, 10, True, 40]), r"image 'a': 'bbox' is a boolean"),
    "bbox NaN": (_one(bbox=[NAN, 10, 20, 40]), r"image 'a': 'bbox' is nan, not a finite number"),
    "bbox inf": (_one(bbox=[10, 10, INF, 40]), r"image 'a': 'bbox' is inf, not a finite number"),
    "bbox 401-digit integer": (_one(bbox=[10, 10, 10**400, 40]),
                               r"image 'a': 'bbox' is an integer of 401 digits, too large for a float"),
    "bbox negative width": (_one(bbox=[10, 10, -20, 40]), r"negative-size box .* image 'a'"),
    "XYXY x2 < x1": (_one(bbox=[30, 10, 10, 50], bbox_mode=BoxMode.XYXY_ABS),
                     r"negative-size box \[30.0, 10.0, -20.0, 40.0\] \(XYWH\) in image 'a'"),
    "bbox_mode XYXY_REL": (_one(bbox_mode=BoxMode.XYXY_REL),
                           r"image 'a': unsupported bbox_mode <BoxMode.XYXY_REL: 2>"),
    "bbox_mode a string": (_one(bbox_mode="XYWH_ABS"), r"image 'a': unsupported bbox_mode 'XYWH_ABS'"),
    "bbox_mode None": (_one(bbox_mode=None), r"image 'a': unsupported bbox_mode None"),
    # seventeenth trial: a missing bbox_mode was read as XYWH_ABS (XYXY boxes silently became other boxes)
    "no bbox_mode": (_one(bbox_mode=KeyError), r"image 'a': an annotation has no 'bbox_mode' \(Detectron2's dataset "
                     r"dicts need it: BoxMode.XYWH_ABS or BoxMode.XYXY_ABS\)"),
    "vis_bbox NaN": (_one(vis_bbox=[1, NAN, 2, 3]), r"image 'a': 'vis_bbox' is nan"),
    "category_id 1 (another class)": (_one(category_id=1),
                                      r"image 'a': 'category_id' 1 is neither 0 \(person\) nor -1 \(ignore region\)"),
    "category_id 3": (_one(category_id=3), r"image 'a': 'category_id' 3 is neither 0"),
    "category_id '0'": (_one(category_id="0"), r"image 'a': 'category_id' '0' is neither 0"),
    "category_id None": (_one(category_id=None), r"image 'a': 'category_id' None is neither 0"),
    "category_id True": (_one(category_id=True), r"image 'a': 'category_id' True is neither 0"),
    "ignore '0'": (_one(ignore="0"), r"image 'a': 'ignore' is a string"),  # bool("0") is True
    "ignore NaN": (_one(ignore=NAN), r"image 'a': 'ignore' is nan, not 0 or 1"),
    "ignore 2": (_one(ignore=2), r"image 'a': 'ignore' is 2, not 0 or 1"),
    "iscrowd 'no'": (_one(iscrowd="no"), r"image 'a': 'iscrowd' is a string"),
    "height negative": (_one(height=-5), r"image 'a': 'height' is -5, outside \[0, inf\]"),
    "height a string": (_one(height="x"), r"image 'a': 'height' is a string"),
    "height None": (_one(height=None), r"image 'a': 'height' is null"),
    "vis_ratio 1.5": (_one(vis_ratio=1.5), r"image 'a': 'vis_ratio' is 1.5, outside \[0, 1\]"),
    "vis_ratio -1": (_one(vis_ratio=-1), r"image 'a': 'vis_ratio' is -1, outside \[0, 1\]"),
    "vis_ratio NaN": (_one(vis_ratio=NAN), r"image 'a': 'vis_ratio' is nan"),
    "label a number": (_one(label=3), r"image 'a': 'label' is a number, not a string"),
}


@pytest.mark.parametrize("dicts, message", list(DICT_ERRORS.values()), ids=list(DICT_ERRORS))
def test_bad_dataset_dicts_are_an_error_naming_dataset_and_image(dicts, message):
    name, ev = _evaluator(dicts)
    ev.reset()
    with pytest.raises(EvalInputError, match=rf"^dataset '{name}': {message}"):
        ev.evaluate()


PREDICTION_ERRORS = {
    "image not in the data set": ([("zz", _output())], r"predictions: image id 'zz' is not in the ground truth"),
    "image id of another type": ([(0, _output())], r"predictions: image id 0 is not in the ground truth"),
    "image id a list": ([(["a"], _output())], r"predictions: image id \['a'\] is not in the ground truth"),
    "image twice": ([("a", _output()), ("a", _output())], r"predictions: duplicate image id 'a'"),
    "NaN box": ([("a", _output([[NAN, 1, 2, 3]]))], r"predictions: non-finite box .* in image 'a'"),
    "inf score": ([("a", _output(scores=(INF,)))], r"predictions: non-finite score inf in image 'a'"),
    "NaN score": ([("a", _output(scores=(NAN,)))], r"predictions: non-finite score nan in image 'a'"),
    "x2 < x1": ([("a", _output([[30, 10, 10, 50]]))], r"predictions: negative-size box .* in image 'a'"),
}


@pytest.mark.parametrize("predictions, message", list(PREDICTION_ERRORS.values()), ids=list(PREDICTION_ERRORS))
def test_bad_predictions_are_an_error_naming_the_image(predictions, message):
    with pytest.raises(EvalInputError, match=rf"^{message}"):
        _evaluate([_record("a"), _record("b", annotations=[])], predictions)


def _rotated_output(n=4):
    inst = Instances((80, 100))
    inst.pred_boxes = RotatedBoxes(torch.tensor([[20.0, 30.0, 20.0, 40.0, 0.0]] * n))
    inst.scores = torch.full((n,), 0.9)
    inst.pred_classes = torch.zeros(n, dtype=torch.int64)
    return {"instances": inst}


NO_DETECTIONS = "has no 'instances' with pred_boxes and scores"


@pytest.mark.parametrize("output, message", [
    ({"sem_seg": torch.zeros(1)}, NO_DETECTIONS), ({"instances": Instances((80, 100))}, NO_DETECTIONS),
    # fifth trial: an IndexError traceback (with pred_classes), or (N, 5) cut into rows of 4 without a word
    (_rotated_output(), r"has boxes of 5 values \(rotated boxes\?\); the miss-rate protocols need axis-aligned"),
    # seventh trial: "AttributeError: 'Tensor' object has no attribute 'tensor'" (a model that skips Boxes)
    ({"instances": Instances((80, 100), pred_boxes=torch.tensor([[10.0, 10.0, 30.0, 50.0]]), scores=torch.ones(1))},
     r"has pred_boxes of type Tensor and scores of type Tensor; a detection model's output has Boxes \(XYXY_ABS\)"),
    # eleventh trial: (N, K) class scores were read as N * K scores ("predictions: 3 image ids, 3 boxes, 5 scores",
    # naming no image, at evaluate()); (N, K) classes were an IndexError traceback
    ({"instances": Instances((80, 100), pred_boxes=Boxes(torch.tensor([[10.0, 10, 30, 50], [50, 10, 70, 50]])),
                             scores=torch.tensor([[0.9, 0.1], [0.8, 0.2]]))},
     r"has 2 boxes and scores of shape \(2, 2\); one score per box is needed"),
    ({"instances": Instances((80, 100), pred_boxes=Boxes(torch.tensor([[10.0, 10, 30, 50], [50, 10, 70, 50]])),
                             scores=torch.ones(2), pred_classes=torch.zeros(2, 2, dtype=torch.int64))},
     r"has 2 boxes and pred_classes of shape \(2, 2\); one class per box is needed"),
])
def test_output_without_detections_is_an_error_in_process(output, message):
    _, ev = _evaluator([_record()])
    ev.reset()
    with pytest.raises(EvalInputError, match=rf"the output for image 'a' {message}"):
        ev.process([{"image_id": "a"}], [output])


ARGUMENT_ERRORS = {
    "mode unknown": ({"protocol": "citypersons", "mode": "fast"}, r"mode must be 'official' or 'matlab', got 'fast'"),
    "mode for crowdhuman": ({"mode": "matlab"}, r"mode='matlab' applies to citypersons only, not crowdhuman"),
    "box unknown": ({"box": "head"}, r"box must be 'full' or 'visible', got 'head'"),
    "box for citypersons": ({"protocol": "citypersons", "box": "visible"}, r"box='visible' applies to crowdhuman"),
    "setups for crowdhuman": ({"setups": ["Reasonable"]}, r"setups apply to citypersons / caltech only"),
    "setup unknown": ({"protocol": "citypersons", "setups": ["Tiny"]}, r"unknown setup 'Tiny'"),
    "setup named twice": ({"protocol": "caltech", "setups": ["X:0:10:0:1", "X:10:20:0:1"]},
                          r"setups name a subset twice: \['X', 'X'\]"),
    "setup with a built-in name": ({"protocol": "citypersons", "setups": ["Reasonable:0:10:0:1"]},
                                   r"give the custom subset a name of its own \(not the built-in 'Reasonable'\)"),
    "error analysis FPPI -1": ({"error_analysis_fppi": -1.0}, r"error_analysis_fppi must be a positive finite FPPI"),
    "error analysis FPPI NaN": ({"error_analysis_fppi": NAN}, r"error_analysis_fppi must be a positive finite FPPI"),
    "error analysis FPPI a string": ({"error_analysis_fppi": "0.1"}, r"error_analysis_fppi must be a positive"),
    # fifth trial: "0" and -1 matched no class ("no box is left: is person_class right?", with person_class=0 shown)
    "person class a string": ({"person_class": "0"},
                              r"person_class must be a class index \(an integer >= 0\), got '0'"),
    "person class -1": ({"person_class": -1}, r"person_class must be a class index \(an integer >= 0\), got -1"),
    # fifth trial: a NotADirectoryError only when the results were written, after the whole inference pass
    "output_dir under a file": ({"output_dir": __file__ + "/inference"},
                                r"output_dir '.*/inference' cannot be created: '.*\.py' is a file, not a folder"),
    # sixth trial: any non-empty string was a true value ("no" computed JI)
    "compute_ji 'no'": ({"compute_ji": "no"}, r"compute_ji must be True or False, got 'no'"),
    "resize_dets None": ({"protocol": "caltech", "resize_dets": None}, r"resize_dets must be True or False, got None"),
    "plot 'false'": ({"plot": "false"}, r"plot must be True or False, got 'false'"),
    # eighteenth trial: an int was taken as a file descriptor ("output_dir '5' exists and is not a folder"), bytes
    # failed with "a bytes-like object is required, not 'str'"
    "output_dir an int": ({"output_dir": 5}, r"output_dir must be a folder path \(a str or an os.PathLike\) or None, "
                                             r"got int 5$"),
    "output_dir bytes": ({"output_dir": b"out"}, r"output_dir must be a folder path .* got bytes b'out'$"),
}


@pytest.mark.parametrize("kwargs, message", list(ARGUMENT_ERRORS.values()), ids=list(ARGUMENT_ERRORS))
def test_bad_arguments_fail_when_the_evaluator_is_built(kwargs, message):
    kwargs = dict(kwargs)
    protocol = kwargs.pop("protocol", "crowdhuman")
    with pytest.raises(ValueError, match=message):
        _evaluator([_record()], protocol, **kwargs)


def test_valid_but_unusual_input_gives_valid_files(tmp_path):
    """No GT and no prediction: every metric undefined (NaN in the results, null in metrics.json, a dash in .md)."""
    name, results = _evaluate([], predictions=(), output_dir=str(tmp_path))
    assert all(math.isnan(v) for v in results["crowdhuman"].values())
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [metrics[k] for k in ("AP", "mMR", "Recall")] == [None, None, None]
    assert "\u2014" in (tmp_path / "metrics.md").read_text()
    assert (tmp_path / "mr_fppi_crowdhuman.png").stat().st_size > 1000


def test_valid_dicts_with_numpy_values_and_flags_evaluate():
    """Values Detectron2 code often holds as numpy scalars (np.float32 boxes, np.bool_ flags) are numbers too."""
    import numpy as np

    ann = _ann(bbox=np.array([10, 10, 20, 40], np.float32), height=np.float32(40), ignore=np.bool_(False))
    _, results = _evaluate([_record(annotations=[ann])])
    assert results["crowdhuman"]["mMR"] == 0.0  # the one GT found at the first detection, no FP
