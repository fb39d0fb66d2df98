"""
pedet.config.check_config and the projects' check_opl_config / check_reploss_config: config values that would crash
deep inside Detectron2 / PyTorch or silently train nonsense end in one line naming the key (issue 11, second trial).
"""
import pytest
from detectron2.config import get_cfg

import pedet.data  # noqa: F401  (registers the data set names that check_config looks up)
from pedet.config import ConfigError, add_pedet_config, check_config, check_model_config

from opl import add_opl_config
from opl.config import check_opl_config
from reploss import add_reploss_config
from reploss.config import check_reploss_config


R_FPN = ["MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone",
         "MODEL.RESNETS.OUT_FEATURES", "['res3', 'res4', 'res5']", "MODEL.FPN.IN_FEATURES", "['res3', 'res4', 'res5']"]


def _cfg(tmp_path, *opts):
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.META_ARCHITECTURE", "OPL", "OUTPUT_DIR", str(tmp_path / "out"),
                         "DATASETS.TRAIN", "('synthetic_crowd_train',)", "DATASETS.TEST", "('synthetic_crowd_val',)",
                         "SOLVER.STEPS", "(10, 20)", "SOLVER.MAX_ITER", "30", "SOLVER.IMS_PER_BATCH", "4", *opts])
    return cfg


def _error(check, cfg) -> str:
    with pytest.raises(ConfigError) as e:
        check(cfg)
    msg = str(e.value)
    assert msg.startswith("error: config: ") and "\n" not in msg and e.value.code == msg  # SystemExit: exit status 1
    return msg


def test_the_shipped_defaults_pass(tmp_path):
    import os

    # RepLoss's default weights (0.5, 0.5) need RepLossROIHeads (an FPN box head): with Detectron2's default C4
    # Res5ROIHeads they would be dropped, which check_reploss_config refuses (test_check_reploss_config_names_the_key);
    # the C4 defaults are checked as a plain pedestrian Faster R-CNN
    cfg = _cfg(tmp_path, "MODEL.META_ARCHITECTURE", "PedestrianRCNN", "MODEL.REPLOSS.ALPHA", "0.0",
               "MODEL.REPLOSS.BETA", "0.0")
    check_config(cfg)
    check_reploss_config(cfg)
    # OPL's checks read the levels of its own backbone (Detectron2's default C4 ResNet gives res4 only)
    opl_base = os.path.join(os.path.dirname(__file__), "..", "..", "projects", "OPL", "configs", "Base-OPL.yaml")
    cfg.merge_from_file(opl_base)
    check_config(cfg)
    check_opl_config(cfg)


@pytest.mark.parametrize("opts, expected", [
    (["SOLVER.BASE_LR", "-0.01"], "SOLVER.BASE_LR -0.01: must be a finite number >= 0"),  # torch: traceback
    (["SOLVER.BASE_LR", "1e400"], "SOLVER.BASE_LR inf: must be a finite number >= 0"),  # trained NaN weights silently
    (["SOLVER.WARMUP_FACTOR", "-1.0"], "SOLVER.WARMUP_FACTOR -1.0: must be a finite"),  # gradient ascent, silently
    (["SOLVER.MOMENTUM", "-0.5"], "SOLVER.MOMENTUM -0.5"),
    (["SOLVER.WEIGHT_DECAY", "-1.0"], "SOLVER.WEIGHT_DECAY -1.0"),
    (["SOLVER.MAX_ITER", "0", "SOLVER.STEPS", "()"], "SOLVER.MAX_ITER 0: must be >= 1 to train"),
    (["SOLVER.IMS_PER_BATCH", "0"], "SOLVER.IMS_PER_BATCH 0: must be >= 1 and divisible by the number of processes"),
    (["SOLVER.STEPS", "(20, 10)"], "SOLVER.STEPS (20, 10): must be increasing iterations in (0, MAX_ITER = 30)"),
    (["SOLVER.STEPS", "(10, 30)"], "SOLVER.STEPS (10, 30): must be increasing"),  # a step at MAX_ITER: fvcore fails
    (["SOLVER.WARMUP_ITERS", "-1"], "SOLVER.WARMUP_ITERS -1: must be >= 0"),
    (["SOLVER.CHECKPOINT_PERIOD", "0"], "SOLVER.CHECKPOINT_PERIOD 0: must be >= 1"),  # ZeroDivisionError
    (["SOLVER.CHECKPOINT_PERIOD", "-1"], "SOLVER.CHECKPOINT_PERIOD -1: must be >= 1"),  # saved every iteration
    (["SOLVER.CLIP_GRADIENTS.ENABLED", "True", "SOLVER.CLIP_GRADIENTS.CLIP_VALUE", "-1.0"],
     "SOLVER.CLIP_GRADIENTS.CLIP_VALUE -1.0: must be a finite number > 0"),  # negative scale: gradient ascent
    (["SOLVER.CLIP_GRADIENTS.ENABLED", "True", "SOLVER.CLIP_GRADIENTS.CLIP_TYPE", "foo"],
     "SOLVER.CLIP_GRADIENTS.CLIP_TYPE 'foo': must be value or norm"),
    (["SOLVER.REFERENCE_WORLD_SIZE", "3"], "SOLVER.REFERENCE_WORLD_SIZE 3: must be 0 or a number of processes"),
    (["SOLVER.LR_SCHEDULER_NAME", "Foo"], "the LR schedule (SOLVER.LR_SCHEDULER_NAME 'Foo', WARMUP_METHOD 'linear', "
                                          "STEPS, MAX_ITER) cannot be built: Unknown LR scheduler: Foo"),
    (["SOLVER.WARMUP_METHOD", "foo"], "cannot be built: Unknown warmup method: foo"),
    (["DATALOADER.NUM_WORKERS", "-1"], "DATALOADER.NUM_WORKERS -1: must be >= 0"),
    (["DATALOADER.SAMPLER_TRAIN", "Foo"], "DATALOADER.SAMPLER_TRAIN 'Foo': must be one of "),
    (["DATASETS.TRAIN", "('synthetic_crowd_trian',)"],
     "DATASETS.TRAIN 'synthetic_crowd_trian': not a registered data set (did you mean synthetic_crowd_train"),
    (["DATASETS.TRAIN", "()"], "DATASETS.TRAIN (): no training data set"),
    (["DATASETS.TEST", "('nope_val',)"], "DATASETS.TEST 'nope_val': not a registered data set"),
    (["DATASETS.SELECTION", "nope_sel"], "DATASETS.SELECTION 'nope_sel': not a registered data set"),
    (["DATASETS.SELECTION_HOLDOUT", "-1"], "DATASETS.SELECTION_HOLDOUT must be a count >= 1 or a fraction in (0, 1)"),
    (["SEED", str(2 ** 40)], "SEED 1099511627776: must be < 2**32"),
    (["MODEL.DEVICE", "tpu"], "MODEL.DEVICE 'tpu': not a torch device"),
    (["MODEL.META_ARCHITECTURE", "Foo"], "MODEL.META_ARCHITECTURE 'Foo': not registered (known: "),
    (["MODEL.BACKBONE.NAME", "Foo"], "MODEL.BACKBONE.NAME 'Foo': not registered"),
    (["MODEL.PIXEL_MEAN", "[1.0, 2.0]"], "need one value per channel (3 each)"),
    # nineteenth trial: a grayscale set up as in Detectron2 was told "3 each" before the format it cannot use
    (["INPUT.FORMAT", "L", "MODEL.PIXEL_MEAN", "[100.0]", "MODEL.PIXEL_STD", "[50.0]"],
     "INPUT.FORMAT 'L': must be BGR or RGB"),
    (["MODEL.PIXEL_STD", "[0.0, 0.0, 0.0]"], "MODEL.PIXEL_STD [0.0, 0.0, 0.0]: every value must be > 0"),
    (["MODEL.RESNETS.DEPTH", "19"], "MODEL.RESNETS.DEPTH 19: must be 18, 34, 50, 101 or 152"),
    (["TEST.DETECTIONS_PER_IMAGE", "0"], "TEST.DETECTIONS_PER_IMAGE 0: must be >= 1"),  # evaluated no detection
    (["INPUT.IGNORE_MODE", "foo"], "INPUT.IGNORE_MODE 'foo': must be one of drop, exclude_bg"),  # RepLoss: silent
    (["INPUT.MIN_SIZE_TRAIN", "(-128,)"], "INPUT.MIN_SIZE_TRAIN (-128,): sizes must be >= 0"),
    (["INPUT.MIN_SIZE_TRAIN_SAMPLING", "foo"], "must be choice or range"),
    (["INPUT.FORMAT", "XYZ"], "INPUT.FORMAT 'XYZ': must be BGR or RGB"),
    (["INPUT.RANDOM_FLIP", "diagonal"], "INPUT.RANDOM_FLIP 'diagonal': must be none, horizontal or vertical"),
    (["TEST.MISS_RATE.PROTOCOL", "foo"], "TEST.MISS_RATE.PROTOCOL 'foo': must be one of"),
    (["TEST.MISS_RATE.MODE", "foo"], "TEST.MISS_RATE.MODE 'foo'"),  # was silently ignored by the CrowdHuman protocol
    (["TEST.MISS_RATE.BOX", "foo"], "TEST.MISS_RATE.BOX 'foo'"),  # was silently taken as "full"
    (["TEST.MISS_RATE.SETUPS", "['Bogus']"], "TEST.MISS_RATE.SETUPS ['Bogus']: unknown setup 'Bogus'"),
    (["TEST.MISS_RATE.ERROR_ANALYSIS_FPPI", "-1.0"], "TEST.MISS_RATE.ERROR_ANALYSIS_FPPI -1.0: must be > 0"),
    # final model trial: training BN with one image of <= 32 px per process: a 1 x 1 res5 map, PyTorch's ValueError
    ([*R_FPN, "MODEL.RESNETS.NORM", "BN", "SOLVER.IMS_PER_BATCH", "1", "INPUT.MAX_SIZE_TRAIN", "32"],
     "MODEL.RESNETS.NORM 'BN': training BatchNorm at one image per process (SOLVER.IMS_PER_BATCH 1) has a single "
     "value to normalise on the 1 x 1 map (stride 32) of every image, resized to at most 32 px (INPUT.MAX_SIZE_TRAIN)"),
    ([*R_FPN, "MODEL.RESNETS.NORM", "SyncBN", "SOLVER.IMS_PER_BATCH", "1", "INPUT.MIN_SIZE_TRAIN", "(32, 64)"],
     "of a square image resized to 32 px (INPUT.MIN_SIZE_TRAIN)"),
    ([*R_FPN, "MODEL.FPN.NORM", "BN", "SOLVER.IMS_PER_BATCH", "1", "INPUT.MAX_SIZE_TRAIN", "24"],
     "MODEL.FPN.NORM 'BN'"),
])
def test_check_config_names_the_key(tmp_path, opts, expected):
    msg = _error(check_config, _cfg(tmp_path, *opts))
    assert expected in msg, msg


def test_check_config_output_dir_and_what_detectron2_accepts(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    msg = _error(check_config, _cfg(tmp_path, "OUTPUT_DIR", str(blocker / "out")))
    assert f"OUTPUT_DIR '{blocker}/out': cannot be created (Not a directory)" in msg
    # legal in Detectron2: steps after MAX_ITER (a warning), no resize (0), no periodic evaluation, a random seed
    check_config(_cfg(tmp_path, "SOLVER.STEPS", "(10, 100)", "INPUT.MIN_SIZE_TRAIN", "(0,)", "TEST.EVAL_PERIOD", "-1",
                      "SEED", "-1"))
    # BatchNorm and small images are legal with FrozenBN, 2 images per process, 33 px, evaluation or no resize
    small = [*R_FPN, "SOLVER.IMS_PER_BATCH", "1", "INPUT.MIN_SIZE_TRAIN", "(32,)", "INPUT.MAX_SIZE_TRAIN", "32"]
    check_config(_cfg(tmp_path, *small, "MODEL.RESNETS.NORM", "FrozenBN"))
    check_config(_cfg(tmp_path, *small, "MODEL.RESNETS.NORM", "BN", "SOLVER.IMS_PER_BATCH", "2"))
    check_config(_cfg(tmp_path, *small, "MODEL.RESNETS.NORM", "BN", "INPUT.MIN_SIZE_TRAIN", "(33,)",
                      "INPUT.MAX_SIZE_TRAIN", "33"))
    check_config(_cfg(tmp_path, *small, "MODEL.RESNETS.NORM", "BN"), training=False)
    check_config(_cfg(tmp_path, *small, "MODEL.RESNETS.NORM", "BN", "INPUT.MIN_SIZE_TRAIN", "(0,)"))
    # evaluation does not read the solver or the training sets
    check_config(_cfg(tmp_path, "SOLVER.BASE_LR", "-1.0", "DATASETS.TRAIN", "()"), training=False)
    msg = _error(lambda c: check_config(c, world_size=2), _cfg(tmp_path, "SOLVER.IMS_PER_BATCH", "3"))
    assert "SOLVER.IMS_PER_BATCH 3: must be >= 1 and divisible by the number of processes (2)" in msg


@pytest.mark.parametrize("opts, expected", [
    (["MODEL.OPL.POTO_ALPHA", "-1.0"], "MODEL.OPL.POTO_ALPHA -1.0: must be in [0, 1]"),  # scipy: NaN cost matrix
    (["MODEL.OPL.POTO_ALPHA", "2.0"], "MODEL.OPL.POTO_ALPHA 2.0: must be in [0, 1]"),  # trained silently
    (["MODEL.OPL.C2F_ASSIGNER", "foo"], "MODEL.OPL.C2F_ASSIGNER 'foo': must be one of 'topm', 'defcn_aux'"),
    (["MODEL.OPL.C2F_M", "[16, 0]"], "MODEL.OPL.C2F_M [16, 0]: every M_i must be >= 1"),  # an empty block, silently
    (["MODEL.OPL.FOCAL_ALPHA", "1.5"], "MODEL.OPL.FOCAL_ALPHA 1.5: must be in [0, 1] (or -1"),
    (["MODEL.OPL.FOCAL_GAMMA", "-2.0"], "MODEL.OPL.FOCAL_GAMMA -2.0: must be a finite number >= 0"),
    (["MODEL.OPL.PRIOR_PROB", "0.0"], "MODEL.OPL.PRIOR_PROB 0.0: must be in (0, 1)"),  # ZeroDivisionError
    (["MODEL.OPL.PRIOR_PROB", "1.0"], "MODEL.OPL.PRIOR_PROB 1.0: must be in (0, 1)"),  # math domain error
    (["MODEL.OPL.GN_NUM_GROUPS", "7"], "MODEL.OPL.GN_NUM_GROUPS 7: must divide the head's channels"),
    (["MODEL.OPL.NUM_CONVS", "-1"], "MODEL.OPL.NUM_CONVS -1: must be a finite number >= 0"),  # silently 0 convs
    (["MODEL.OPL.NUM_CLASSES", "0"], "MODEL.OPL.NUM_CLASSES 0"),
    (["MODEL.OPL.IN_FEATURES", "['p9']"], "MODEL.OPL.IN_FEATURES ['p9']: must be FPN levels"),
    (["MODEL.OPL.TOP_BLOCK_IN_FEATURE", "foo"], "MODEL.OPL.TOP_BLOCK_IN_FEATURE 'foo'"),
    (["MODEL.OPL.NORM", "BN"], "MODEL.OPL.NORM 'BN': must be one of 'GN', ''"),
    (["MODEL.OPL.CPN_FLOWS", "['F4']"], "MODEL.OPL.CPN_FLOWS ['F4']: must be a non-empty subset of F1, F2, F3"),
    (["MODEL.OPL.CPN_NEG", "foo"], "MODEL.OPL.CPN_NEG 'foo'"),
    (["MODEL.OPL.MSFE_KERNEL", "2"], "MODEL.OPL.MSFE_KERNEL 2: must be an odd kernel size >= 1"),  # shape mismatch
    (["MODEL.OPL.CPN_CONV_KERNEL", "0"], "MODEL.OPL.CPN_CONV_KERNEL 0: must be an odd kernel size"),
    (["MODEL.OPL.SCORE_THRESH_TEST", "1.5"], "MODEL.OPL.SCORE_THRESH_TEST 1.5: must be in [0, 1]"),  # no detection
    (["MODEL.OPL.TOPK_CANDIDATES_TEST", "-1"], "MODEL.OPL.TOPK_CANDIDATES_TEST -1"),
    (["MODEL.OPL.NMS_THRESH_TEST", "2.0"], "MODEL.OPL.NMS_THRESH_TEST 2.0: must be in [0, 1]"),  # NMS off, silently
    (["MODEL.OPL.AUX_TOPK", "0"], "MODEL.OPL.AUX_TOPK 0"),  # torch.cat of nothing
    (["MODEL.OPL.CENTER_SAMPLING_RADIUS", "-1.0"], "MODEL.OPL.CENTER_SAMPLING_RADIUS -1.0"),
    (["MODEL.OPL.REG_WEIGHT", "-2.0"], "MODEL.OPL.REG_WEIGHT -2.0: must be a finite number >= 0"),  # silently
    (["MODEL.OPL.REP_SIGMA_EPS", "0.0"], "MODEL.OPL.REP_SIGMA_EPS 0.0: must be in (0, 1)"),
    (["MODEL.OPL.REP_BOX_MAX_PER_IMAGE", "-1"], "MODEL.OPL.REP_BOX_MAX_PER_IMAGE -1"),
    (["MODEL.OPL.CPN_ON", "True", "MODEL.OPL.FILTER_3DMF", "True"], "MODEL.OPL.FILTER_3DMF True: excludes"),
    (["MODEL.OPL.CENTERNESS", "True"], "MODEL.OPL.CENTERNESS True: is FCOS's branch and needs MODEL.OPL.MAIN_ASSIGNER"),
    (["TEST.AUG.ENABLED", "True"], "TEST.AUG.ENABLED True: test-time augmentation is not implemented for OPL"),
])
def test_check_opl_config_names_the_key(tmp_path, opts, expected):
    msg = _error(check_opl_config, _cfg(tmp_path, "MODEL.FPN.OUT_CHANNELS", "64", *opts))
    assert expected in msg, msg


@pytest.mark.parametrize("opts, expected", [
    (["MODEL.REPLOSS.ALPHA", "-1.0"], "MODEL.REPLOSS.ALPHA -1.0: must be a finite number >= 0"),
    (["MODEL.REPLOSS.NORM_MODE", "foo"], "MODEL.REPLOSS.NORM_MODE 'foo': must be one of 'd2', 'paper'"),
    (["MODEL.REPLOSS.SIGMA_GT", "1.5"], "MODEL.REPLOSS.SIGMA_GT 1.5: must be in [0, 1]"),
    (["MODEL.REPLOSS.SIGMA_EPS", "0.0"], "MODEL.REPLOSS.SIGMA_EPS 0.0: must be in (0, 1)"),
    (["MODEL.REPLOSS.REP_BOX_PAIRING", "foo"], "MODEL.REPLOSS.REP_BOX_PAIRING 'foo'"),
    (["MODEL.REPLOSS.IGNORE_IOA_THRESH", "1.5"], "MODEL.REPLOSS.IGNORE_IOA_THRESH 1.5: must be in [0, 1)"),  # silent
    (["MODEL.REPLOSS.REP_GT_DUP_IOU", "0.0"], "MODEL.REPLOSS.REP_GT_DUP_IOU 0.0: must be in (0, 1]"),  # RepGT off
    (["MODEL.REPLOSS.REP_BOX_MAX_PER_IMAGE", "-1"], "MODEL.REPLOSS.REP_BOX_MAX_PER_IMAGE -1"),
    (["MODEL.ROI_HEADS.NUM_CLASSES", "0"], "MODEL.ROI_HEADS.NUM_CLASSES 0"),
    (["MODEL.META_ARCHITECTURE", "PedestrianRCNN", "INPUT.IGNORE_MODE", "exclude_bg", "MODEL.ROI_HEADS.NAME",
      "StandardROIHeads"], "MODEL.ROI_HEADS.NAME 'StandardROIHeads': INPUT.IGNORE_MODE exclude_bg needs RepLossROIHeads"),
    (["MODEL.META_ARCHITECTURE", "PedestrianRCNN", "MODEL.REPLOSS.ALPHA", "0.5", "MODEL.ROI_HEADS.NAME",
      "CascadeROIHeads"], "MODEL.ROI_HEADS.NAME 'CascadeROIHeads': MODEL.REPLOSS.ALPHA 0.5 needs RepLossROIHeads"),
    (["MODEL.META_ARCHITECTURE", "PedestrianRCNN"], "MODEL.ROI_HEADS.NAME 'Res5ROIHeads': MODEL.REPLOSS.ALPHA 0.5 needs"),
    (["MODEL.META_ARCHITECTURE", "PedestrianRCNN", "MODEL.REPLOSS.ALPHA", "0.0", "MODEL.REPLOSS.BETA", "0.5",
      "MODEL.ROI_HEADS.NAME", "StandardROIHeads"], "'StandardROIHeads': MODEL.REPLOSS.BETA 0.5 needs RepLossROIHeads"),
    (["TEST.AUG.ENABLED", "True"], "TEST.AUG.ENABLED True: test-time augmentation is not implemented"),  # was ignored
])
def test_check_reploss_config_names_the_key(tmp_path, opts, expected):
    msg = _error(check_reploss_config, _cfg(tmp_path, *opts))
    assert expected in msg, msg


def test_check_model_config_refuses_cuda_without_a_gpu(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    msg = _error(check_model_config, _cfg(tmp_path, "MODEL.DEVICE", "cuda"))
    assert "MODEL.DEVICE 'cuda': no CUDA GPU is available here; use MODEL.DEVICE cpu" in msg
