"""
Eighth final "second person" trial, model side (issue 11): ``--resume`` in an OUTPUT_DIR that holds a run's
checkpoints but no ``last_checkpoint`` (deleted, or checkpoints copied in by hand) started that run again at iteration
0 from MODEL.WEIGHTS and overwrote its checkpoints, without a word; it is now one error naming the folder and the
files. (A YAML config that gives one key twice, whose first block PyYAML dropped in silence, is a case of the table
in test_config_errors.py; the merge-key control is here.)
"""
import os

import pytest

from ..scripts import OPL_TINY, TINY_DEMO_OPTS


def _trainer(out):
    from detectron2.config import get_cfg

    from opl import add_opl_config
    from pedet.config import add_pedet_config
    from pedet.engine import PedestrianTrainer

    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    cfg.merge_from_file(OPL_TINY)
    cfg.merge_from_list([*TINY_DEMO_OPTS[:6], "OUTPUT_DIR", str(out), "DATASETS.TEST", "()", "MODEL.DEVICE", "cpu",
                         "SOLVER.MAX_ITER", "20", "SOLVER.STEPS", "()", "SOLVER.WARMUP_ITERS", "0"])
    return PedestrianTrainer(cfg)


@pytest.mark.parametrize("names", [["model_0000009.pth"], ["model_0000009.pth", "model_final.pth"]])
def test_resume_beside_checkpoints_without_last_checkpoint_is_one_error(tmp_path, names):
    from pedet.engine.checkpoint import CheckpointFileError

    first = _trainer(tmp_path)
    first.iter = 9
    for name in names:
        first.checkpointer.save(name[:-4])
    os.remove(tmp_path / "last_checkpoint")
    saved = {n: (tmp_path / n).read_bytes() for n in names}
    with pytest.raises(CheckpointFileError) as e:
        _trainer(tmp_path).resume_or_load(resume=True)
    msg = str(e.value)
    assert msg.startswith(f"--resume: {tmp_path} holds {', '.join(sorted(names))} but no last_checkpoint, so the run "
                          "would start again at iteration 0 from MODEL.WEIGHTS and overwrite them"), msg
    assert "\n" not in msg and str(tmp_path / "last_checkpoint") in msg
    assert {n: (tmp_path / n).read_bytes() for n in names} == saved


def test_resume_in_a_new_folder_and_from_last_checkpoint_still_work(tmp_path):
    # the first launch of a job that always passes --resume: nothing to resume, it starts at 0 (Detectron2's rule)
    fresh = _trainer(tmp_path / "new")
    fresh.resume_or_load(resume=True)
    assert fresh.start_iter == 0
    first = _trainer(tmp_path / "run")
    first.iter = 9
    first.checkpointer.save("model_0000009")
    (tmp_path / "run" / "model.pth").write_bytes(b"not one of the trainer's names")
    again = _trainer(tmp_path / "run")
    again.resume_or_load(resume=True)
    assert again.start_iter == 10
    os.remove(tmp_path / "run" / "last_checkpoint")
    os.remove(tmp_path / "run" / "model_0000009.pth")
    other = _trainer(tmp_path / "run")  # only a file the trainer does not write: nothing of a run to overwrite
    other.resume_or_load(resume=True)
    assert other.start_iter == 0


def test_yaml_merge_keys_may_be_overridden(tmp_path):
    """The duplicate-key check leaves YAML merging alone: a key merged in with << and set again is valid YAML."""
    from detectron2.config import get_cfg

    from pedet.config import add_pedet_config, merge_config

    f = tmp_path / "merge.yaml"
    f.write_text("SOLVER:\n  <<: {BASE_LR: 0.1, MAX_ITER: 5}\n  BASE_LR: 0.02\n")
    cfg = get_cfg()
    add_pedet_config(cfg)
    merge_config(cfg, str(f), [])
    assert cfg.SOLVER.BASE_LR == 0.02 and cfg.SOLVER.MAX_ITER == 5


@pytest.mark.parametrize("shape", [(48, 64), (48, 64, 4), (48, 64, 1)])
def test_onnx_preprocess_names_an_image_that_is_not_bgr(shape):
    """docs/DEPLOYMENT.md's ONNX snippet: a grayscale or BGRA array failed with numpy's "axes don't match array" or
    ONNX Runtime's "Got: 4 Expected: 3"."""
    import numpy as np

    from opl.export import preprocess_image

    with pytest.raises(ValueError) as e:
        preprocess_image(np.zeros(shape, np.uint8), min_size=64, max_size=64)
    assert str(e.value).startswith(f"preprocess_image: an (H, W, 3) BGR image is needed (as cv2.imread reads it by "
                                   f"default), got shape {shape}")
    x, sx, sy = preprocess_image(np.zeros((48, 64, 3), np.uint8), min_size=64, max_size=128)  # control
    assert x.shape == (1, 3, 64, 85) and (sx, sy) == (64 / 85, 48 / 64)


def test_nms_sweep_refuses_an_override_of_the_threshold_it_sweeps(tmp_path, capsys):
    """MODEL.ROI_HEADS.NMS_THRESH_TEST among nms_sweep's overrides took no effect (each --thresholds value replaces
    it), without a word."""
    from pedet.utils.imports import load_script

    from .test_bad_input_seventeenth_model import REPLOSS_TINY, REPO

    nms_sweep = load_script(os.path.join(REPO, "projects", "RepLoss", "nms_sweep.py"))
    with pytest.raises(SystemExit) as e:
        nms_sweep.main(["--thresholds", "0.5", "--model", "A", REPLOSS_TINY, str(tmp_path / "model_final.pth"),
                        "--dataset", "synthetic_crowd_cpu_sparse", "--output", str(tmp_path / "out"),
                        "MODEL.DEVICE", "cpu", "MODEL.ROI_HEADS.NMS_THRESH_TEST", "0.3"])
    assert e.value.code == 2
    assert ("error: MODEL.ROI_HEADS.NMS_THRESH_TEST 0.3: the threshold this script sweeps (each --thresholds value "
            "replaces it); give 0.3 in --thresholds") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
