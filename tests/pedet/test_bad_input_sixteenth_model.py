"""
Sixteenth bad-input trial, model side (issue 11): the new kinds of checks of this trial. train_net x the state of
OUTPUT_DIR and the checkpoint options was tried systematically; everything else already had a clear error.
"""
import os

import pytest

from ..scripts import OPL_TINY, TINY_DEMO_OPTS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("iteration", ["x", -7, True, "missing"])
def test_resume_from_a_checkpoint_whose_iteration_is_no_iteration_is_one_error(tmp_path, iteration):
    """--resume from a checkpoint whose trainer state records a damaged iteration: a string failed with a TypeError,
    a missing one with a KeyError, a negative one started training at iteration -6 and failed in the LR scheduler."""
    import torch
    from detectron2.config import get_cfg

    from opl import add_opl_config
    from pedet.config import add_pedet_config
    from pedet.engine import PedestrianTrainer
    from pedet.engine.checkpoint import CheckpointFileError

    def trainer():
        cfg = get_cfg()
        add_pedet_config(cfg)
        add_opl_config(cfg)
        cfg.merge_from_file(OPL_TINY)
        cfg.merge_from_list([*TINY_DEMO_OPTS[:6], "OUTPUT_DIR", str(tmp_path), "DATASETS.TEST", "()", "MODEL.DEVICE",
                             "cpu", "SOLVER.MAX_ITER", "20", "SOLVER.STEPS", "()", "SOLVER.WARMUP_ITERS", "0"])
        return PedestrianTrainer(cfg)

    first = trainer()
    first.iter = 9
    first.checkpointer.save("model_0000009")
    path = tmp_path / "model_0000009.pth"
    ckpt = torch.load(path, weights_only=False)
    if iteration == "missing":
        del ckpt["trainer"]["iteration"]
    else:
        ckpt["trainer"]["iteration"] = iteration
    torch.save(ckpt, path)
    with pytest.raises(CheckpointFileError) as e:
        trainer().resume_or_load(resume=True)
    shown = None if iteration == "missing" else iteration
    assert str(e.value) == (f"{path}: its trainer state records iteration {shown!r}, not a whole number >= 0; the file "
                            "is damaged or not written by a trainer (use it as MODEL.WEIGHTS without --resume)")


def test_nms_sweep_plot_interrupted_half_way_leaves_the_previous_figure(tmp_path, monkeypatch):
    """nms_sweep wrote its PNG (and JSON) with a plain open: a run stopped half-way through the write left a torn file
    in place of the previous figure."""
    from matplotlib.figure import Figure

    from pedet.utils.imports import load_script

    nms_sweep = load_script(os.path.join(REPO, "projects", "RepLoss", "nms_sweep.py"))
    path = tmp_path / "nms_sweep.png"
    path.write_bytes(b"previous figure")

    def torn(self, fname, **kwargs):
        (fname.write if hasattr(fname, "write") else open(fname, "wb").write)(b"\x89PNG half")
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", torn)
    curves = {"A": {"m": {0.5: 10.0}}}
    with pytest.raises(KeyboardInterrupt):
        nms_sweep.plot(curves, ["m"], str(path))
    assert path.read_bytes() == b"previous figure" and sorted(p.name for p in tmp_path.iterdir()) == [path.name]
