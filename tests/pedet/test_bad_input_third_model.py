"""
Third bad-input trial, model side (issue 11): train_net's config values, checkpoints, errors raised in DataLoader
workers, the mapper's image errors, --eval-only --resume without a checkpoint, the export's opset. Each case here
crashed with a traceback or trained / evaluated something else in silence before its fix, unless marked "legal"
(Detectron2 accepts it, so must we).
"""
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from detectron2.config import get_cfg

import pedet.data  # noqa: F401  (registers the data set names that check_config looks up)
from pedet.config import ConfigError, add_pedet_config, check_config, check_model_config
from pedet.data.common import DatasetFormatError
from pedet.engine.checkpoint import CheckpointFileError
from pedet.engine.launch import bad_input_message, one_line_errors

from opl import add_opl_config
from opl.config import check_opl_config
from reploss import add_reploss_config
from reploss.config import check_reploss_config

from ..scripts import fresh_script

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPL_BASE = os.path.join(REPO, "projects", "OPL", "configs", "Base-OPL.yaml")
OPL_TINY = os.path.join(REPO, "projects", "OPL", "configs", "opl_R18_synthetic_cpu.yaml")
REPLOSS_BASE = os.path.join(REPO, "projects", "RepLoss", "configs", "Base-RCNN-FPN-Ped.yaml")
REPLOSS_TINY = os.path.join(REPO, "projects", "RepLoss", "configs", "tiny", "reploss_R_18_FPN_synthetic_tiny.yaml")
CROWDHUMAN = os.path.join(REPO, "tests", "fixtures", "crowdhuman")


def _cfg(tmp_path, base, *opts):
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_file(base)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "OUTPUT_DIR", str(tmp_path / "out"), "DATASETS.TRAIN",
                         "('synthetic_crowd_train',)", "DATASETS.TEST", "('synthetic_crowd_val',)", "SOLVER.STEPS",
                         "(10, 20)", "SOLVER.MAX_ITER", "30", "SOLVER.IMS_PER_BATCH", "4", *opts])
    return cfg


def _check(base):
    project = check_opl_config if base == OPL_BASE else check_reploss_config
    return lambda cfg: (check_config(cfg), project(cfg))


def _error(check, cfg) -> str:
    with pytest.raises(ConfigError) as e:
        check(cfg)
    msg = str(e.value)
    assert msg.startswith("error: config: ") and "\n" not in msg and e.value.code == msg
    return msg


@pytest.mark.parametrize("base, opts, expected", [
    # nineteenth trial: one channel per GN group, images no larger than the p7 stride: GroupNorm's ValueError traceback
    (OPL_BASE, ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "32", "INPUT.MIN_SIZE_TEST", "64",
                "INPUT.MAX_SIZE_TEST", "64"],
     "MODEL.OPL.GN_NUM_GROUPS 32: one channel per group (MODEL.FPN.OUT_CHANNELS 32) leaves a single value to normalise "
     "on the 1 x 1 p7 map (stride 128) of an image of at most 64 px (INPUT.MAX_SIZE_TEST), which PyTorch's GroupNorm "
     "refuses; use fewer groups or larger images"),
    (OPL_BASE, ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "32", "MODEL.OPL.IN_FEATURES",
                "['p3', 'p4', 'p5']", "INPUT.MAX_SIZE_TRAIN", "32", "SOLVER.IMS_PER_BATCH", "1"],
     "of an image of at most 32 px (INPUT.MAX_SIZE_TRAIN)"),
    # twenty-fourth trial: a large MAX_SIZE_TEST but a short side within the stride: a square image is 1 x 1 there
    (OPL_BASE, ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "32", "INPUT.MIN_SIZE_TEST", "64"],
     "of a square image resized to 64 px (INPUT.MIN_SIZE_TEST), which PyTorch's GroupNorm refuses"),
    # crashed deep inside with a traceback that does not name the key
    (OPL_BASE, ["MODEL.DEVICE", "meta"], "MODEL.DEVICE 'meta': no meta device that runs a model is available here"),
    (OPL_BASE, ["INPUT.MAX_SIZE_TRAIN", "0"], "INPUT.MAX_SIZE_TRAIN 0: must be >= 1"),  # "height and width must be > 0"
    (OPL_BASE, ["INPUT.MAX_SIZE_TEST", "0"], "INPUT.MAX_SIZE_TEST 0: must be >= 1"),
    (OPL_BASE, ["INPUT.MIN_SIZE_TRAIN_SAMPLING", "range", "INPUT.MIN_SIZE_TRAIN", "(200, 100)"],
     "INPUT.MIN_SIZE_TRAIN (200, 100): sampling 'range' needs (low, high), low <= high"),  # numpy: low >= high
    (OPL_BASE, ["DATALOADER.SAMPLER_TRAIN", "RepeatFactorTrainingSampler", "DATALOADER.REPEAT_THRESHOLD", "-1.0"],
     "DATALOADER.REPEAT_THRESHOLD -1.0: must be a finite number >= 0"),  # math domain error
    (OPL_BASE, ["MODEL.FPN.OUT_CHANNELS", "0", "MODEL.OPL.GN_NUM_GROUPS", "1"], "MODEL.FPN.OUT_CHANNELS 0: must be >= 1"),
    (OPL_BASE, ["MODEL.RESNETS.OUT_FEATURES", "['res1']"], "MODEL.RESNETS.OUT_FEATURES ['res1']: must be among stem"),
    (OPL_BASE, ["MODEL.FPN.IN_FEATURES", "['res2', 'res3']"],
     "MODEL.FPN.IN_FEATURES ['res2', 'res3']: must be among MODEL.RESNETS.OUT_FEATURES ['res3', 'res4', 'res5']"),
    (OPL_BASE, ["MODEL.RESNETS.NORM", "foo"], "MODEL.RESNETS.NORM 'foo': not a normalisation Detectron2 knows"),
    (OPL_BASE, ["MODEL.FPN.NORM", "LN2"], "MODEL.FPN.NORM 'LN2': not a normalisation Detectron2 knows"),
    (OPL_BASE, ["MODEL.OPL.IN_FEATURES", "['p2', 'p3']"],
     "MODEL.OPL.IN_FEATURES ['p2', 'p3']: must be among the backbone's outputs ['p3', 'p4', 'p5', 'p6', 'p7']"),
    (REPLOSS_BASE, ["MODEL.RPN.IN_FEATURES", "['p7']"], "MODEL.RPN.IN_FEATURES ['p7']: must be among the backbone's"),
    (REPLOSS_BASE, ["MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", "[[0.0]]"],
     "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS [[0.0]]: every value must be a finite number > 0"),  # ZeroDivisionError
    (REPLOSS_BASE, ["MODEL.RPN.IOU_THRESHOLDS", "[0.7, 0.3]"], "MODEL.RPN.IOU_THRESHOLDS [0.7, 0.3]: must be "
                                                               "increasing IoUs in (0, 1]"),  # Matcher: bare assert
    (REPLOSS_BASE, ["MODEL.ROI_HEADS.IOU_LABELS", "[0]"], "MODEL.ROI_HEADS.IOU_LABELS [0]: must be 2 labels"),
    (REPLOSS_BASE, ["MODEL.MASK_ON", "True"], "MODEL.MASK_ON True: the pedestrian data sets have no masks"),
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.NUM_FC", "0", "MODEL.ROI_BOX_HEAD.NUM_CONV", "0"],
     "the box head needs at least one layer"),  # bare assert
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_TYPE", "foo"],
     "MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_TYPE 'foo': must be one of 'smooth_l1', 'giou', 'diou', 'ciou'"),  # at step 1
    (OPL_BASE, ["MODEL.RESNETS.STEM_OUT_CHANNELS", "0"], "MODEL.RESNETS.STEM_OUT_CHANNELS 0: must be >= 1"),
    (OPL_BASE, ["MODEL.FPN.FUSE_TYPE", "foo"], "MODEL.FPN.FUSE_TYPE 'foo': must be sum or avg"),  # a bare assert
    (OPL_BASE, ["MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.RES2_OUT_CHANNELS", "256"],
     "the backbone (MODEL.BACKBONE.NAME 'build_fcos_resnet_fpn_backbone' and its MODEL.RESNETS / MODEL.FPN keys) "
     "cannot be built: AssertionError Must set MODEL.RESNETS.RES2_OUT_CHANNELS = 64 for R18/R34"),
    (OPL_BASE, ["SOLVER.MAX_ITER", str(10 ** 20)], "SOLVER.MAX_ITER 100000000000000000000: must be >= 1 to train (and "
                                                   "< 2**31)"),  # an OverflowError in the ETA of the first log line
    (REPLOSS_BASE, ["MODEL.ROI_HEADS.NAME", "Res5ROIHeads"], "the model (MODEL.META_ARCHITECTURE 'PedestrianRCNN', "
                                                             "BACKBONE.NAME 'build_resnet_fpn_backbone'"),
    (REPLOSS_BASE, ["MODEL.PROPOSAL_GENERATOR.NAME", "RRPN"], "MODEL.PROPOSAL_GENERATOR.NAME 'RRPN': rotated "
                                                              "proposals"),  # a bare assert at the first step
    # trained (or evaluated) nonsense in silence
    (OPL_BASE, ["SOLVER.BIAS_LR_FACTOR", "-1.0"], "SOLVER.BIAS_LR_FACTOR -1.0: must be a finite number >= 0"),
    (OPL_BASE, ["SOLVER.WEIGHT_DECAY_NORM", "-1.0"], "SOLVER.WEIGHT_DECAY_NORM -1.0: must be a finite number >= 0"),
    (OPL_BASE, ["MODEL.OPL.IN_FEATURES", "['p3', 'p3']"], "MODEL.OPL.IN_FEATURES ['p3', 'p3']: lists a level twice"),
    (REPLOSS_BASE, ["MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "0"], "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE 0: must be"),
    (REPLOSS_BASE, ["MODEL.ROI_HEADS.POSITIVE_FRACTION", "1.5"], "MODEL.ROI_HEADS.POSITIVE_FRACTION 1.5: must be in"),
    (REPLOSS_BASE, ["MODEL.RPN.PRE_NMS_TOPK_TRAIN", "0"], "MODEL.RPN.PRE_NMS_TOPK_TRAIN 0: must be"),
    (REPLOSS_BASE, ["MODEL.RPN.NMS_THRESH", "-1.0"], "MODEL.RPN.NMS_THRESH -1.0: must be in [0, 1]"),  # 1 proposal
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION", "0"], "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION 0: must be"),
    # INPUT.CROP (now applied by the mapper): what RandomCrop asserts on or crops to nothing
    (OPL_BASE, ["INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "relative", "INPUT.CROP.SIZE", "[1.5, 0.5]"],
     "INPUT.CROP.SIZE [1.5, 0.5]: a relative crop takes fractions of the image in (0, 1]"),
    (OPL_BASE, ["INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "square"], "INPUT.CROP.TYPE 'square': must be one of"),
    (OPL_BASE, ["INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "absolute", "INPUT.CROP.SIZE", "[50.5, 60.0]"],
     "an absolute crop takes (height, width) as integers >= 1"),  # a slice-index TypeError in the worker
    (OPL_BASE, ["INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "absolute_range", "INPUT.CROP.SIZE", "[300, 200]"],
     "an absolute_range crop takes (min, max) sides with 1 <= min <= max"),
    # fourth trial: a TypeError from the checks themselves (yacs lets other element types and None through)
    (OPL_BASE, ["SOLVER.STEPS", "('a',)"], "SOLVER.STEPS ('a',): every value must be a number"),
    (OPL_BASE, ["SOLVER.BASE_LR", "None"], "SOLVER.BASE_LR None: must be a number"),
    (OPL_BASE, ["SOLVER.MAX_ITER", "None"], "SOLVER.MAX_ITER None: must be a number"),
    (OPL_BASE, ["MODEL.PIXEL_MEAN", "['a', 'b', 'c']"], "MODEL.PIXEL_MEAN ['a', 'b', 'c']: every value must be a"),
    (OPL_BASE, ["INPUT.MIN_SIZE_TRAIN", "('a',)"], "INPUT.MIN_SIZE_TRAIN ('a',): every value must be a finite"),
    (OPL_BASE, ["MODEL.OPL.C2F_M", "['a']"], "MODEL.OPL.C2F_M ['a']: every value must be a number"),
    (OPL_BASE, ["DATASETS.TEST", "(5,)"], "DATASETS.TEST 5: not a data set name"),  # in difflib
    (OPL_BASE, ["TEST.MISS_RATE.SETUPS", "[5]"], "TEST.MISS_RATE.SETUPS [5]: give the subsets as strings"),
    (OPL_BASE, ["TEST.MISS_RATE.ERROR_ANALYSIS_FPPI", "None"], "TEST.MISS_RATE.ERROR_ANALYSIS_FPPI None: must be a"),
    (REPLOSS_BASE, ["MODEL.RPN.IOU_THRESHOLDS", "['a', 0.7]"], "MODEL.RPN.IOU_THRESHOLDS ['a', 0.7]: every value"),
    # fourth trial: Detectron2's default_setup fails on it (FileNotFoundError '') or the first step does
    (OPL_BASE, ["OUTPUT_DIR", ""], "OUTPUT_DIR '': must name a folder"),
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS", "(10.0, 10.0)"],
     "MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS (10.0, 10.0): must be 4 finite numbers > 0"),  # unpacked at step 1
    (REPLOSS_BASE, ["MODEL.RPN.BBOX_REG_WEIGHTS", "(0.0, 0.0, 0.0, 0.0)"],
     "MODEL.RPN.BBOX_REG_WEIGHTS (0.0, 0.0, 0.0, 0.0): must be 4 finite numbers > 0"),  # deltas divided by 0
    # fourth trial: refused by the evaluator only when it is built, i.e. after training
    (OPL_BASE, ["TEST.MISS_RATE.MODE", "matlab"], "TEST.MISS_RATE for DATASETS.TEST 'synthetic_crowd_val' (crowdhuman "
                                                  "protocol): mode='matlab' applies to citypersons only"),
    (OPL_BASE, ["TEST.MISS_RATE.SETUPS", "['Reasonable']"], "setups apply to citypersons / caltech only"),
    (OPL_BASE, ["TEST.MISS_RATE.BOX", "visible", "DATASETS.TEST", "('citypersons_val',)"],
     "TEST.MISS_RATE for DATASETS.TEST 'citypersons_val' (citypersons protocol): box='visible' applies to crowdhuman"),
    (OPL_BASE, ["DATASETS.SELECTION", "citypersons_val", "TEST.MISS_RATE.BOX", "visible"],
     "TEST.MISS_RATE for DATASETS.SELECTION 'citypersons_val' (citypersons protocol)"),
    (OPL_BASE, ["DATASETS.TEST", "('coco_2017_val',)"], "DATASETS.TEST 'coco_2017_val': its evaluator_type 'coco' has "
                                                        "no miss-rate protocol; set TEST.MISS_RATE.PROTOCOL"),
    # fourth trial: trained something else in silence
    (OPL_BASE, ["MODEL.LOAD_PROPOSALS", "True"], "MODEL.LOAD_PROPOSALS True: precomputed proposals are not read"),
    (OPL_BASE, ["MODEL.OPL.IN_FEATURES", "['p7', 'p3', 'p4', 'p5', 'p6']"], "must list the levels finest first"),
    (OPL_BASE, ["MODEL.OPL.C2F_M", "[4, 16]"], "MODEL.OPL.C2F_M [4, 16]: must decrease from block to block"),
    (OPL_BASE, ["MODEL.OPL.C2F_M", "[4, 4]"], "MODEL.OPL.C2F_M [4, 4]: must decrease"),
    (REPLOSS_BASE, ["MODEL.RPN.LOSS_WEIGHT", "-1.0"], "MODEL.RPN.LOSS_WEIGHT -1.0: must be a finite number >= 0"),
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_WEIGHT", "-1.0"], "BBOX_REG_LOSS_WEIGHT -1.0: must be a finite"),
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.NUM_CONV", "-1"], "MODEL.ROI_BOX_HEAD.NUM_CONV -1: must be a finite number "
                                                          ">= 0"),  # range(-1): no conv, silently
    # fifth trial: Detectron2's detectors on pedet's data (ignore boxes are gt_classes -1): GeneralizedRCNN's RPN
    # trained them as persons, RetinaNet ran without the MODEL.OPL keys (both silently); ProposalNetwork failed
    (REPLOSS_BASE, ["MODEL.META_ARCHITECTURE", "GeneralizedRCNN"], "MODEL.META_ARCHITECTURE 'GeneralizedRCNN': must "
                                                                   "be PedestrianRCNN (or a subclass)"),
    (REPLOSS_BASE, ["MODEL.META_ARCHITECTURE", "ProposalNetwork"], "'ProposalNetwork': must be PedestrianRCNN"),
    (OPL_BASE, ["MODEL.META_ARCHITECTURE", "RetinaNet"], "MODEL.META_ARCHITECTURE 'RetinaNet': must be OPL (or a "
                                                         "subclass)"),
    (REPLOSS_BASE, ["MODEL.ANCHOR_GENERATOR.NAME", "RotatedAnchorGenerator"],  # a bare assert at the first step
     "MODEL.ANCHOR_GENERATOR.NAME 'RotatedAnchorGenerator': rotated anchors"),
    # fifth trial: verify_results failed after the evaluation (or the whole training) with a KeyError / ValueError
    (OPL_BASE, ["TEST.EXPECTED_RESULTS", "[['foo', 'mMR', 50.0, 1.0]]"],
     "task 'foo': the results of DATASETS.TEST 'synthetic_crowd_val' are under 'crowdhuman'"),
    (OPL_BASE, ["TEST.EXPECTED_RESULTS", "[['crowdhuman', 'mMR', 50.0]]"],
     "TEST.EXPECTED_RESULTS ['crowdhuman', 'mMR', 50.0]: each entry must be [task, metric, expected value, tolerance"),
    (OPL_BASE, ["TEST.EXPECTED_RESULTS", "[['crowdhuman', 'mMR', 50.0, 1.0]]", "DATASETS.TEST", "()"],
     "are checked on the results of one TEST set; DATASETS.TEST has 0"),
    # seventh trial: a metric the results never hold failed the verification after the whole training
    (OPL_BASE, ["TEST.EXPECTED_RESULTS", "[['crowdhuman', 'MR', 50.0, 1.0]]"],
     "metric 'MR': the crowdhuman results of DATASETS.TEST 'synthetic_crowd_val' hold AP, mMR, Recall, JI"),
    (OPL_BASE, ["DATASETS.TEST", "('citypersons_val',)", "TEST.MISS_RATE.SETUPS", "['Reasonable']",
                "TEST.EXPECTED_RESULTS", "[['citypersons', 'Heavy', 50.0, 1.0]]"],
     "metric 'Heavy': the citypersons results of DATASETS.TEST 'citypersons_val' hold Reasonable"),
    # fifth trial: PreciseBN with 0 batches zeroed every BN running variance in silence; -5 failed after training
    (OPL_BASE, ["TEST.PRECISE_BN.ENABLED", "True", "TEST.PRECISE_BN.NUM_ITER", "0"],
     "TEST.PRECISE_BN.NUM_ITER 0: must be >= 1 with TEST.PRECISE_BN.ENABLED"),
    (OPL_BASE, ["TEST.PRECISE_BN.ENABLED", "True", "TEST.PRECISE_BN.NUM_ITER", "-5"], "TEST.PRECISE_BN.NUM_ITER -5"),
    # sixth trial: an RPN head of zero channels was built and failed at the first step; OPL ignored masks and
    # keypoints in silence (the RepLoss project refused them)
    (REPLOSS_BASE, ["MODEL.RPN.CONV_DIMS", "[0]"], "MODEL.RPN.CONV_DIMS [0]: every value must be >= 1 (or -1: the "
                                                   "input's channels)"),
    (REPLOSS_BASE, ["MODEL.RPN.CONV_DIMS", "[64, 0]"], "MODEL.RPN.CONV_DIMS [64, 0]: every value must be >= 1"),
    (OPL_BASE, ["MODEL.MASK_ON", "True"], "MODEL.MASK_ON True: the pedestrian data sets have no masks or keypoints, "
                                          "and OPL predicts boxes only"),
    (OPL_BASE, ["MODEL.KEYPOINT_ON", "True"], "MODEL.KEYPOINT_ON True: the pedestrian data sets have no masks"),
    # sixth trial: an unclear message ("cannot be built: IndexError list index out of range")
    (OPL_BASE, ["MODEL.RESNETS.DEFORM_ON_PER_STAGE", "[True]"], "MODEL.RESNETS.DEFORM_ON_PER_STAGE [True]: needs one "
                                                                "value per stage (res2 ... res5: 4)"),
    # eighth trial: an unclear message ("cannot be built: AssertionError 1.0")
    (REPLOSS_BASE, ["MODEL.ANCHOR_GENERATOR.OFFSET", "1.0"],
     "MODEL.ANCHOR_GENERATOR.OFFSET 1.0: must be in [0, 1) (the first anchor's centre, as a fraction of the stride)"),
    (REPLOSS_BASE, ["MODEL.ANCHOR_GENERATOR.OFFSET", "-0.5"], "MODEL.ANCHOR_GENERATOR.OFFSET -0.5: must be in [0, 1)"),
    # twelfth trial: a bare assert at the first step (rotated ROIAlign on axis-aligned proposals); "expected scalar
    # type Double but found Float" at the first step (float64 YUV images), and BGR images fed to the demo's model
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.POOLER_TYPE", "ROIAlignRotated"],
     "MODEL.ROI_BOX_HEAD.POOLER_TYPE 'ROIAlignRotated': rotated boxes: the pedestrian boxes and proposals are"),
    (OPL_BASE, ["INPUT.FORMAT", "YUV-BT.601"], "INPUT.FORMAT 'YUV-BT.601': must be BGR or RGB"),
    (REPLOSS_BASE, ["INPUT.FORMAT", "YUV-BT.601"], "INPUT.FORMAT 'YUV-BT.601': must be BGR or RGB"),
])
def test_fresh_config_values_are_named_before_anything_is_built(tmp_path, base, opts, expected):
    msg = _error(_check(base), _cfg(tmp_path, base, *opts))
    assert expected in msg, msg


@pytest.mark.parametrize("key, value, expected", [
    ("MODEL.PIXEL_STD", [float("inf"), 1.0, 1.0], "MODEL.PIXEL_STD [inf, 1.0, 1.0]: every value must be > 0 and "
                                                  "finite"),  # an all-zero input, trained in silence
    ("MODEL.PIXEL_MEAN", [float("nan"), 1.0, 1.0], "MODEL.PIXEL_MEAN [nan, 1.0, 1.0]: every value must be a finite"),
    ("SOLVER.BIAS_LR_FACTOR", float("nan"), "SOLVER.BIAS_LR_FACTOR nan: must be a finite number >= 0"),
    ("SOLVER.WEIGHT_DECAY_BIAS", -1.0, "SOLVER.WEIGHT_DECAY_BIAS -1.0: must be a finite number >= 0"),
    ("MODEL.OPL.BBOX_PRED_BIAS", float("inf"), "MODEL.OPL.BBOX_PRED_BIAS inf: must be a finite number"),  # NaN loss
    # fourth trial: YAML's null (yacs accepts None for any key) and nested lists reached the checks' arithmetic
    ("SOLVER.BASE_LR", None, "SOLVER.BASE_LR None: must be a number"),
    ("MODEL.PIXEL_MEAN", [[1.0, 2.0], 2.0, 3.0], "MODEL.PIXEL_MEAN [[1.0, 2.0], 2.0, 3.0]: every value must be a"),
    ("INPUT.MIN_SIZE_TRAIN", (float("nan"),), "INPUT.MIN_SIZE_TRAIN (nan,): every value must be a finite number"),
])
def test_non_finite_values_from_a_yaml_file_are_named(tmp_path, key, value, expected):
    # YAML's .nan / .inf reach the config as floats (an override on the command line cannot spell them)
    cfg = _cfg(tmp_path, OPL_BASE)
    node = cfg
    for part in key.split(".")[:-1]:
        node = node[part]
    node[key.split(".")[-1]] = value
    msg = _error(_check(OPL_BASE), cfg)
    assert expected in msg, msg


def test_a_remote_output_dir_without_a_handler_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    msg = _error(check_config, _cfg(tmp_path, OPL_BASE, "OUTPUT_DIR", "s3://bucket/run"))
    assert "OUTPUT_DIR 's3://bucket/run': no PathManager handler is registered for s3://" in msg
    assert not os.path.exists(tmp_path / "s3:")  # was a local folder 's3:', then an ImportError from TensorBoard


def test_random_subset_sampler_needs_its_ratio_key(tmp_path):
    cfg = _cfg(tmp_path, OPL_BASE, "DATALOADER.SAMPLER_TRAIN", "RandomSubsetTrainingSampler")
    if "RANDOM_SUBSET_RATIO" in cfg.DATALOADER:  # Detectron2 main: the key exists, its range is checked
        cfg.DATALOADER.RANDOM_SUBSET_RATIO = 0.0
        assert "DATALOADER.RANDOM_SUBSET_RATIO 0.0: must be in (0, 1]" in _error(check_config, cfg)
    else:  # v0.6 has the sampler class but not the key: was an AttributeError in the loader builder
        assert "needs DATALOADER.RANDOM_SUBSET_RATIO" in _error(check_config, cfg)


@pytest.mark.parametrize("base, opts", [  # legal in Detectron2: accepted
    # one channel per GN group is fine where no image gives a 1 x 1 map alone (nineteenth trial)
    (OPL_BASE, ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "32"]),
    (OPL_BASE, ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "32", "INPUT.MAX_SIZE_TRAIN", "64",
                "INPUT.MIN_SIZE_TRAIN", "(64,)"]),  # batch 4
    (OPL_BASE, ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "32", "INPUT.MIN_SIZE_TEST", "0",
                "INPUT.MAX_SIZE_TEST", "64"]),  # MIN_SIZE_TEST 0: the test images are not resized
    (OPL_BASE, ["DATASETS.TEST", "()", "TEST.EVAL_PERIOD", "5"]),  # nothing to evaluate periodically
    (OPL_BASE, ["TEST.EVAL_PERIOD", "-5"]),  # no periodic evaluation
    (OPL_BASE, ["MODEL.DEVICE", "cpu:1"]),  # torch runs it on the CPU
    (OPL_BASE, ["INPUT.MIN_SIZE_TEST", "0", "INPUT.MAX_SIZE_TEST", "0"]),  # no resize at all
    (OPL_BASE, ["DATALOADER.SAMPLER_TRAIN", "RepeatFactorTrainingSampler", "DATALOADER.REPEAT_THRESHOLD", "0.0"]),
    (OPL_BASE, ["MODEL.BACKBONE.FREEZE_AT", "10"]),  # everything frozen
    (OPL_BASE, ["SEED", str(2 ** 32 - 1)]),
    (OPL_BASE, ["SOLVER.BIAS_LR_FACTOR", "0.0", "SOLVER.WEIGHT_DECAY_NORM", "0.0"]),
    (OPL_BASE, ["INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "absolute_range", "INPUT.CROP.SIZE", "[64, 96]"]),
    (OPL_BASE, ["INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "relative_range", "INPUT.CROP.SIZE", "[0.3, 1.0]"]),
    (REPLOSS_BASE, ["MODEL.ANCHOR_GENERATOR.SIZES", "[[32]]"]),  # one size broadcast to every level
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.SMOOTH_L1_BETA", "-1.0"]),  # Detectron2: beta < 1e-5 is the L1 loss
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.BBOX_REG_LOSS_TYPE", "giou", "MODEL.RPN.BBOX_REG_LOSS_TYPE", "ciou"]),
    # fourth trial
    (OPL_BASE, ["MODEL.OPL.CPN_FLOWS", "['F1', 'F1']"]),  # a set of flows: the same as ['F1']
    (OPL_BASE, ["MODEL.OPL.IN_FEATURES", "['p3', 'p5']"]),  # levels may be left out, in order
    (OPL_BASE, ["DATASETS.TRAIN", "('synthetic_crowd_train', 'synthetic_crowd_train')"]),  # Detectron2 concatenates
    (OPL_BASE, ["SOLVER.WARMUP_FACTOR", "2.0", "SOLVER.GAMMA", "0.0", "SOLVER.WARMUP_ITERS", "1000"]),
    (OPL_BASE, ["INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "absolute", "INPUT.CROP.SIZE", "[2000, 2000]"]),
    (OPL_BASE, ["TEST.MISS_RATE.PROTOCOL", "citypersons"]),  # an explicit protocol for the set
    (REPLOSS_BASE, ["MODEL.RPN.BOUNDARY_THRESH", "-5", "MODEL.ANCHOR_GENERATOR.ANGLES", "[[0, 45]]"]),
    # fifth trial
    (REPLOSS_BASE, ["MODEL.ROI_BOX_HEAD.POOLER_SAMPLING_RATIO", "-1"]),  # ROIAlign's adaptive sampling (was refused)
    (OPL_BASE, ["TEST.EXPECTED_RESULTS", "[['crowdhuman', 'mMR', 50.0, 100.0]]", "TEST.PRECISE_BN.ENABLED", "True"]),
    # seventh trial: every metric the results hold (citypersons: the subsets, a custom one under its own name)
    (OPL_BASE, ["TEST.EXPECTED_RESULTS", "[['crowdhuman', 'JI', 50.0, 100.0], ['crowdhuman', 'Recall', 50.0, 100.0]]"]),
    (OPL_BASE, ["DATASETS.TEST", "('citypersons_val',)", "TEST.MISS_RATE.SETUPS",
                "['Reasonable', 'tall:80:inf:0.65:1']", "TEST.EXPECTED_RESULTS",
                "[['citypersons', 'tall', 50.0, 100.0], ['citypersons', 'Reasonable', 50.0, 100.0]]"]),
    (OPL_BASE, ["DATASETS.TEST", "('citypersons_val',)", "TEST.EXPECTED_RESULTS", "[['citypersons', 'Heavy', 50.0, "
                "100.0]]"]),
    (OPL_BASE, ["SOLVER.LR_SCHEDULER_NAME", "WarmupCosineLR", "SOLVER.REFERENCE_WORLD_SIZE", "2", "SOLVER.AMP.ENABLED",
                "True", "SEED", "-1", "VIS_PERIOD", "-5", "CUDNN_BENCHMARK", "True"]),
    # sixth trial
    (REPLOSS_BASE, ["MODEL.RPN.CONV_DIMS", "[-1, 64]"]),  # -1: the input's channels
    (OPL_BASE, ["MODEL.RESNETS.DEFORM_ON_PER_STAGE", "[False, False, False, True, True]"]),  # the 5th is not read
    (REPLOSS_BASE, ["MODEL.RPN.CONV_DIMS", "[]", "MODEL.PROPOSAL_GENERATOR.MIN_SIZE", "-1"]),  # no conv; no filter
    (REPLOSS_BASE, ["MODEL.ROI_HEADS.PROPOSAL_APPEND_GT", "False", "MODEL.ROI_BOX_HEAD.CLS_AGNOSTIC_BBOX_REG", "True"]),
    (OPL_BASE, ["INPUT.CROP.ENABLED", "True", "INPUT.CROP.TYPE", "relative_range", "INPUT.CROP.SIZE", "[0.9, 0.5]"]),
    (OPL_BASE, ["DATALOADER.ASPECT_RATIO_GROUPING", "False", "DATALOADER.FILTER_EMPTY_ANNOTATIONS", "False",
                "MODEL.BACKBONE.FREEZE_AT", "-1", "SOLVER.STEPS", "(100, 200)"]),  # steps past MAX_ITER: a warning
])
def test_values_detectron2_accepts_pass(tmp_path, base, opts):
    _check(base)(_cfg(tmp_path, base, *opts))


def test_check_model_config_is_what_demo_and_export_use(tmp_path):
    msg = _error(check_model_config, _cfg(tmp_path, OPL_BASE, "MODEL.RESNETS.NORM", "foo"))
    assert "MODEL.RESNETS.NORM 'foo'" in msg


# ------------------------------------------------------------------ checkpoints
def test_weights_files_that_hold_no_state_dict_are_named(tmp_path):
    from pedet.engine import PedetCheckpointer

    model = torch.nn.Linear(2, 2)
    files = {"list.pkl": ([1, 2, 3], "holds no dict of weights"),  # was AttributeError: 'list' ... 'items'
             "int.pkl": (5, "holds no dict of weights"),  # was TypeError: argument of type 'int' is not iterable
             # a .pkl without '__author__' is read whole (Detectron2's model-zoo rule): was "weight 'model' of its
             # 'model' entry is a dict"
             "nested.pkl": ({"model": {"w": np.zeros(2)}}, "it holds no 'model' and '__author__' entries, so it is "
                                                           "read whole as a state dict of weights .as Detectron2 "
                                                           "does., but its entry 'model' is a dict, not a tensor or "
                                                           "an array .the file holds 'model': not a checkpoint"),
             # thirteenth trial: "weight 'iteration' of its 'model' entry is a int" (the file has no such entry)
             "no_model.pth": ({"iteration": 1}, "it holds no 'model' entry, so it is read whole as a state dict of "
                                                "weights .as Detectron2 does., but its entry 'iteration' is an int, "
                                                "not a tensor or an array .the file holds 'iteration': not a "
                                                "checkpoint"),
             "no_model_many.pth": ({k: 1 for k in "abcdef"}, "it holds no 'model' entry, .* but its entry 'a' is an "
                                                             "int, not a tensor or an array .the file holds 'a', 'b', "
                                                             "'c', 'd', 'e', ...: not a")}
    for name, (content, message) in files.items():
        if name.endswith(".pth"):
            torch.save(content, tmp_path / name)
        else:
            with open(tmp_path / name, "wb") as f:
                pickle.dump(content, f)
        with pytest.raises(CheckpointFileError, match=f"{tmp_path / name}: {message}"):
            PedetCheckpointer(model).load(str(tmp_path / name))
    torch.save({"model": [1, 2]}, tmp_path / "list.pth")  # was AttributeError: 'list' object has no attribute 'keys'
    with pytest.raises(CheckpointFileError, match="list.pth: its 'model' entry holds a list, not a state dict"):
        PedetCheckpointer(model).load(str(tmp_path / "list.pth"))
    torch.save({"model": {"weight": "x"}}, tmp_path / "str.pth")
    with pytest.raises(CheckpointFileError, match="str.pth: weight 'weight' of its 'model' entry is a str"):
        PedetCheckpointer(model).load(str(tmp_path / "str.pth"))
    torch.save({"model": {"weight": torch.full((2, 2), float("nan")), "bias": torch.zeros(2)}}, tmp_path / "nan.pth")
    with pytest.raises(CheckpointFileError, match="nan.pth: 1 weights hold NaN or inf values .e.g. weight.; the run "
                                                  "that wrote it diverged"):  # evaluated to an empty result silently
        PedetCheckpointer(model).load(str(tmp_path / "nan.pth"))
    pickle.dump({"weight": np.ones((2, 2), np.float32), "bias": np.zeros(2, np.float32)},
                open(tmp_path / "ok.pkl", "wb"))  # a Detectron1-style .pkl of arrays still loads
    PedetCheckpointer(model).load(str(tmp_path / "ok.pkl"))
    assert model.weight.detach().numpy().tolist() == [[1.0, 1.0], [1.0, 1.0]]


# ------------------------------------------------------------------ errors raised in DataLoader workers
def _worker_style(exc: BaseException) -> BaseException:
    """``exc`` raised in a DataLoader worker, as torch re-raises it in the main process."""
    from torch._utils import ExceptionWrapper

    try:
        raise exc
    except type(exc):
        wrapper = ExceptionWrapper(where="in DataLoader worker process 0")
    try:
        wrapper.reraise()
    except BaseException as e:  # noqa: B036  (the re-raised exception itself is what is tested)
        return e


@pytest.mark.parametrize("exc", [
    DatasetFormatError("image '/d/a.jpg' (image_id 'a'): cannot be decoded (image file is truncated)"),
    FileNotFoundError("image '/d/b.jpg' (image_id 'b'): not found"),
    CheckpointFileError("/w/model.pth: no such checkpoint file"),
])
def test_a_bad_input_error_from_a_worker_gives_the_worker_message(capsys, exc):
    wrapped = _worker_style(exc)
    assert type(wrapped) is type(exc) and str(wrapped).startswith("Caught ") and "Traceback" in str(wrapped)
    assert bad_input_message(wrapped) == str(exc) == bad_input_message(exc)
    with pytest.raises(SystemExit) as e:
        with one_line_errors():
            raise wrapped
    assert e.value.code == f"error: {exc}"


def test_a_bug_in_a_worker_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        with one_line_errors():
            raise _worker_style(ZeroDivisionError("division by zero"))


# ------------------------------------------------------------------ the mapper's image errors name file and record
def _records(tmp_path):
    from pedet.data.crowdhuman import load_crowdhuman_odgt

    root = tmp_path / "CrowdHuman"
    shutil.copytree(os.path.join(CROWDHUMAN, "CrowdHuman"), root)
    return root, load_crowdhuman_odgt(str(root / "annotation_train.odgt"), str(root / "Images"))


def _truncate(image: str) -> None:
    """Cut the last tenth of a JPEG: its header stays readable (the loader reads the size from it), decoding fails."""
    with open(image, "rb") as f:
        data = f.read()
    with open(image, "wb") as f:
        f.write(data[: len(data) * 9 // 10])


def test_mapper_names_the_image_and_record_it_cannot_use(tmp_path):
    from detectron2.data import transforms as T

    from pedet.data.mapper import PedestrianDatasetMapper

    root, records = _records(tmp_path)
    mapper = PedestrianDatasetMapper(True, augmentations=[T.NoOpTransform()], image_format="BGR")
    record = records[0]
    image = record["file_name"]
    _truncate(image)
    with pytest.raises(DatasetFormatError, match=rf"image '{image}' \(image_id '{record['image_id']}'\): cannot be "
                                                 r"decoded \(image file is truncated"):
        mapper(record)  # was PIL's OSError without the record
    os.remove(image)
    with pytest.raises(FileNotFoundError, match=rf"image '{image}' \(image_id '{record['image_id']}'\): not found"):
        mapper(record)
    resized = dict(records[1], height=50)
    with pytest.raises(DatasetFormatError, match=r"is 64x48 pixels \(width x height\), its record says 64x50"):
        mapper(resized)


def _train_argv(config, out, train_set, workers, extra=()):
    tiny = ["INPUT.MIN_SIZE_TRAIN", "(64,)", "INPUT.MAX_SIZE_TRAIN", "96", "MODEL.FPN.OUT_CHANNELS", "32",
            "SOLVER.IMS_PER_BATCH", "2", "SOLVER.MAX_ITER", "1", "SOLVER.STEPS", "()", "TEST.EVAL_PERIOD", "0",
            "DATASETS.TEST", "()", "MODEL.WEIGHTS", "", "SEED", "0"]
    tiny += ["MODEL.OPL.GN_NUM_GROUPS", "8", "MODEL.OPL.NUM_CONVS", "1"] if "OPL" in config else \
        ["MODEL.RPN.POST_NMS_TOPK_TRAIN", "64", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32",
         "MODEL.ROI_BOX_HEAD.FC_DIM", "64"]
    return ["--config-file", config, *tiny, "DATASETS.TRAIN", f"('{train_set}',)", "OUTPUT_DIR", str(out),
            "DATALOADER.NUM_WORKERS", str(workers), *extra]


@pytest.mark.parametrize("project, config", [("opl", OPL_TINY), ("reploss", REPLOSS_TINY)])
def test_train_net_worker_error_is_the_same_one_line_as_without_workers(tmp_path, project, config):
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.engine import default_argument_parser

    from pedet.data.crowdhuman import register_crowdhuman
    from tests.deploy.runner import load_train_net

    root, records = _records(tmp_path)
    for r in records:  # whichever image the seeded sampler draws first
        _truncate(r["file_name"])
    name = f"third_trial_truncated_{project}"
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_crowdhuman(name, str(root / "annotation_train.odgt"), str(root / "Images"))
    records_log = []
    handler = logging.Handler()
    handler.emit = records_log.append
    train_loop_logger = logging.getLogger("detectron2.engine.train_loop")
    train_loop_logger.addHandler(handler)
    messages = []
    try:
        for workers in (0, 1):
            args = default_argument_parser().parse_args(_train_argv(config, tmp_path / f"out{workers}", name, workers))
            with pytest.raises(SystemExit) as e:
                with one_line_errors():
                    load_train_net(project).main(args)
            messages.append(e.value.code)
    finally:
        train_loop_logger.removeHandler(handler)
    assert messages[0] == messages[1], messages
    assert re.fullmatch(rf"error: image '{root}/Images/(.+)\.jpg' \(image_id '\1'\): cannot be decoded \(image file is "
                        r"truncated \(\d+ bytes not processed\)\)", messages[0]), messages
    # detectron2's "Exception during training:" log line carries the one line, not the traceback
    logged = [r for r in records_log if r.levelno >= logging.ERROR]
    assert len(logged) == 2 and all(r.exc_info is None and messages[0][7:] in r.getMessage() for r in logged)


def test_train_net_worker_error_exit_status_and_no_traceback(tmp_path):
    """The command line: NUM_WORKERS 1, a truncated image of crowdhuman_train under $DETECTRON2_DATASETS."""
    root, records = _records(tmp_path)
    for r in records:
        _truncate(r["file_name"])
    env = dict(os.environ, DETECTRON2_DATASETS=str(tmp_path), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join([REPO, env.get("PYTHONPATH", "")])
    cmd = [sys.executable, os.path.join(REPO, "projects", "OPL", "train_net.py"),
           *_train_argv(OPL_TINY, tmp_path / "out", "crowdhuman_train", 1)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert re.fullmatch(rf"error: image '{root}/Images/(.+)\.jpg' \(image_id '\1'\): cannot be decoded \(.*\)",
                        r.stderr.strip().splitlines()[-1]), r.stderr[-2000:]


# ------------------------------------------------------------------ --eval-only --resume, export --opset
def test_eval_only_resume_without_a_checkpoint_warns_of_a_random_model(tmp_path, caplog, monkeypatch):
    from detectron2.engine import default_argument_parser

    from tests.deploy.runner import load_train_net

    train_net = load_train_net("opl")
    evaluated = []
    monkeypatch.setattr(train_net.Trainer, "test", classmethod(lambda cls, cfg, model: evaluated.append(1) or {}))
    args = default_argument_parser().parse_args(
        ["--eval-only", "--resume", *_train_argv(OPL_TINY, tmp_path / "empty", "synthetic_crowd_train", 0,
                                                 ["DATASETS.TEST", "('synthetic_crowd_val',)"])])  # () is refused
    with caplog.at_level(logging.WARNING, logger="pedet.engine.checkpoint"):
        train_net.main(args)  # no last_checkpoint: MODEL.WEIGHTS ("") is evaluated, as without --resume
    assert evaluated and "MODEL.WEIGHTS is empty: evaluating a RANDOMLY INITIALISED model" in caplog.text


def _export_module():
    export = fresh_script("tools/export.py", "third_trial_export")
    return export


def test_export_refuses_an_opset_its_exporter_cannot_write(tmp_path, capsys):
    from torch.onnx import _constants

    export = _export_module()
    limit = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", _constants.ONNX_MAX_OPSET)
    with pytest.raises(SystemExit) as e:  # was a RuntimeError traceback after building and loading the model
        export.main(["--config-file", OPL_TINY, "--output", str(tmp_path / "m.onnx"), "--opset", str(limit + 1)])
    assert e.value.code == 2
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert len(err) == 1 and err[0].endswith(f"error: --opset {limit + 1}: this PyTorch's ONNX exporter writes opsets "
                                             f"up to {limit}"), err


@pytest.mark.parametrize("opts, message", [
    (["OUTPUT_DIR", "/tmp/elsewhere"], "OUTPUT_DIR: set by the main job"),  # the report then crashed after training
    (["MODEL.WEIGHTS", "m.pth"], "MODEL.WEIGHTS: set by the main job"),
    (["DATASETS.TEST", "('synthetic_crowd_cpu_crowd',)"], "must include synthetic_crowd_cpu_medium"),
    (["SOLVER.MAX_ITER", "5", "--threads", "1"], "--threads: options go before the config overrides"),
    (["--output", "/dev/null/run"], "--output /dev/null/run: cannot create /dev/null/run/report (Not a directory)"),
    (["--output", ""], "--output '': must name a folder"),  # fifth trial: wrote train/, report/ into the working dir
    (["--num-images", "100000"], "--num-images 100000: synthetic_crowd_cpu_medium has 200 images"),  # 11th: drew 200
    (["SOLVER.MAX_ITER=3"], "config override SOLVER.MAX_ITER=3: KEY=VALUE is the LazyConfig syntax"),  # 21st trial
    # seventh final model trial: the report's copy of mr_fppi_crowdhuman.png was a FileNotFoundError after training
    (["TEST.MISS_RATE.PROTOCOL", "citypersons"], "TEST.MISS_RATE.PROTOCOL citypersons: the report evaluates"),
    (["TEST.MISS_RATE.PLOTS_ON", "False"], "TEST.MISS_RATE.PLOTS_ON False: the report shows the MR-FPPI curve"),
])
def test_main_job_refuses_overrides_the_report_cannot_follow(monkeypatch, capsys, tmp_path, opts, message):
    main_job = fresh_script("tools/main_job.py", "third_trial_main_job")
    monkeypatch.setattr(sys, "argv", ["main_job.py", "--output", str(tmp_path / "out"), *opts])
    with pytest.raises(SystemExit) as e:
        main_job.main()
    assert e.value.code == 2 and not (tmp_path / "out").exists()  # refused before any work
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip() and not x.startswith(("usage:", " "))]
    assert len(err) == 1 and message in err[0], err


@pytest.mark.parametrize("size", [["--height", "5"], ["--height", "32", "--width", "32"]])
def test_export_refuses_a_tracing_input_of_one_cell(tmp_path, capsys, size):
    # was "ValueError: Expected more than 1 value per channel" from the FPN's GroupNorm, deep in the trace
    export = _export_module()
    with pytest.raises(SystemExit) as e:
        export.main(["--config-file", OPL_TINY, "--output", str(tmp_path / "m.onnx"), *size,
                     "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "8", "MODEL.OPL.NUM_CONVS", "1"])
    assert e.value.code == 2 and not (tmp_path / "m.onnx").exists()
    err = [x for x in capsys.readouterr().err.splitlines() if "error:" in x]
    assert len(err) == 1 and "both sides must be >= 1 and one > 32, the backbone's size divisibility" in err[0], err


def test_demo_with_a_malformed_gt_dataset_exits_with_one_line(tmp_path):
    """--gt-dataset whose annotation file is malformed: was a DatasetFormatError traceback from demo/demo.py."""
    import json

    root = tmp_path / "CrowdHuman"
    shutil.copytree(os.path.join(CROWDHUMAN, "CrowdHuman"), root)
    odgt = root / "annotation_val.odgt"
    lines = odgt.read_text().splitlines()
    record = json.loads(lines[0])
    record["gtboxes"][0]["tag"] = "alien"
    odgt.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    env = dict(os.environ, DETECTRON2_DATASETS=str(tmp_path), OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    env["PYTHONPATH"] = os.pathsep.join([REPO, os.path.join(REPO, "projects", "OPL"),
                                         os.path.join(REPO, "projects", "RepLoss"), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, os.path.join(REPO, "demo", "demo.py"), "--config-file", OPL_TINY, "--input",
           str(root / "Images" / f"{record['ID']}.jpg"), "--gt-dataset", "crowdhuman_val"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == (f"error: {odgt}:1: unknown tag 'alien'; expected one of "
                                                 "('person', 'mask')")


@pytest.mark.parametrize("opts, expected", [
    (["DATASETS.SELECTION", "synthetic_crowd_val"], "DATASETS.SELECTION 'synthetic_crowd_val' is also in DATASETS.TEST"),
    (["DATASETS.SELECTION", "synthetic_crowd_train"], "is also in DATASETS.TRAIN: it cannot rank checkpoints"),
    (["DATASETS.SELECTION", "synthetic_crowd_val_d5", "DATASETS.SELECTION_HOLDOUT", "10"],
     "Set one of DATASETS.SELECTION ('synthetic_crowd_val_d5') and DATASETS.SELECTION_HOLDOUT (10), not both"),
    (["DATASETS.SELECTION_HOLDOUT", "10", "DATASETS.SELECTION_HOLDOUT_SEED", "-1"],  # fourth trial: numpy's
     "DATASETS.SELECTION_HOLDOUT_SEED -1: must be an integer in [0, 2**32)"),  # ValueError when the loader was built
])
def test_selection_keys_are_config_errors(tmp_path, opts, expected):
    # were a ValueError traceback from the trainer's hooks, after the model was built
    msg = _error(_check(OPL_BASE), _cfg(tmp_path, OPL_BASE, *opts))
    assert expected in msg, msg


def test_train_net_holdout_larger_than_the_training_set_is_one_line(tmp_path):
    # the size against the training set is known only once it is loaded: SelectionError is a bad-input error
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.engine import default_argument_parser

    from pedet.data.crowdhuman import register_crowdhuman
    from tests.deploy.runner import load_train_net

    root, records = _records(tmp_path)
    name = "third_trial_small_train"
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_crowdhuman(name, str(root / "annotation_train.odgt"), str(root / "Images"))
    args = default_argument_parser().parse_args(_train_argv(OPL_TINY, tmp_path / "out", name, 0,
                                                            ["DATASETS.SELECTION_HOLDOUT", "100"]))
    with pytest.raises(SystemExit) as e:
        with one_line_errors():
            load_train_net("opl").main(args)
    assert e.value.code == (f"error: DATASETS.SELECTION_HOLDOUT 100 holds out 100 of {len(records)} training images: "
                            "nothing would be left to train on"), e.value.code
