"""
Twentieth bad-input trial, model side (issue 11): resuming a run with a changed config, and the selection hold-out of
a TRAIN list that names one set twice. A resumed run whose config trains other parameters (or groups them otherwise)
failed in torch's Optimizer.load_state_dict with a ValueError traceback; one that turned SOLVER.AMP.ENABLED on failed
in detectron2's AMPTrainer with KeyError 'grad_scaler'. The demo's --onnx cases are in the seventeenth trial's table.
"""
import logging

import pytest

from ..scripts import OPL_TINY, TINY_DEMO_OPTS


def _trainer(out_dir, *opts):
    from detectron2.config import get_cfg

    from opl import add_opl_config
    from pedet.config import add_pedet_config
    from pedet.engine import PedestrianTrainer

    cfg = get_cfg()
    add_pedet_config(cfg)
    add_opl_config(cfg)
    cfg.merge_from_file(OPL_TINY)
    cfg.merge_from_list([*TINY_DEMO_OPTS[:6], "OUTPUT_DIR", str(out_dir), "DATASETS.TEST", "()", "MODEL.DEVICE", "cpu",
                         "SOLVER.MAX_ITER", "20", "SOLVER.STEPS", "()", "SOLVER.WARMUP_ITERS", "0", *opts])
    return PedestrianTrainer(cfg)


@pytest.mark.parametrize("first_opts, opts", [
    ((), ("MODEL.BACKBONE.FREEZE_AT", "2")),
    ((), ("SOLVER.BIAS_LR_FACTOR", "2.0")),
    # a head with fewer convs: the checkpoint's extra weights are ignored (as detectron2), its optimizer state is not
    (("MODEL.OPL.NUM_CONVS", "2"), ()),
])
def test_resume_with_a_config_that_trains_other_parameters_is_one_error(tmp_path, first_opts, opts):
    from pedet.engine.checkpoint import CheckpointFileError

    first = _trainer(tmp_path, *first_opts)
    first.iter = 9
    first.checkpointer.save("model_0000009")
    resumed = _trainer(tmp_path, *opts)
    with pytest.raises(CheckpointFileError) as e:
        resumed.resume_or_load(resume=True)
    ours = [len(g["params"]) for g in resumed.optimizer.param_groups]
    theirs = [len(g["params"]) for g in first.optimizer.param_groups]
    assert ours != theirs
    assert str(e.value).startswith(
        f"{tmp_path / 'model_0000009.pth'}: its optimizer state holds {sum(theirs)} trained parameters in "
        f"{len(theirs)} groups, this config trains {sum(ours)} in {len(ours)}: a key that decides which parameters "
        "train or how they are grouped")


def test_resume_with_the_same_optimizer_layout_loads_its_state(tmp_path):
    first = _trainer(tmp_path)
    first.iter = 9
    first.checkpointer.save("model_0000009")
    resumed = _trainer(tmp_path, "SOLVER.WEIGHT_DECAY", "0.1")  # a value, not the layout: loads as in detectron2
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 10


def test_resume_with_amp_turned_on_starts_a_new_gradient_scaler(tmp_path, caplog):
    first = _trainer(tmp_path)
    first.iter = 9
    first.checkpointer.save("model_0000009")
    resumed = _trainer(tmp_path, "SOLVER.AMP.ENABLED", "True")
    assert hasattr(resumed._trainer, "grad_scaler")
    with caplog.at_level(logging.WARNING):
        resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 10
    assert ("The checkpoint was written without SOLVER.AMP.ENABLED: the resumed run starts a new AMP gradient scaler"
            in caplog.text)


def _duplicated_train_cfg(holdout):
    from detectron2.config import get_cfg
    from detectron2.data import DatasetCatalog, MetadataCatalog

    from pedet.config import add_pedet_config

    name = "twentieth_three_images"
    if name not in DatasetCatalog.list():
        DatasetCatalog.register(name, lambda: [{"file_name": f"/data/{i}.jpg", "image_id": i, "height": 64,
                                                "width": 64, "annotations": []} for i in range(3)])
        MetadataCatalog.get(name).set(thing_classes=["person"], evaluator_type="crowdhuman")
    cfg = get_cfg()
    add_pedet_config(cfg)
    cfg.DATASETS.TRAIN = (name, name)  # the same set twice: 6 records of 3 image files
    cfg.DATASETS.SELECTION_HOLDOUT = holdout
    return cfg


@pytest.mark.parametrize("holdout", [4, 5, 0.7])
def test_a_holdout_that_takes_every_image_of_a_duplicated_train_set_is_one_error(holdout):
    """TRAIN listing one set twice, SELECTION_HOLDOUT 4 of its 6 records: every copy of a held-out image leaves
    training, so nothing was left and Detectron2's TrainingSampler failed with 'expects a positive int. Got 0.'"""
    from detectron2.data import DatasetCatalog

    from pedet.data.selection import SelectionError, exclude_selection_holdout, selection_dataset

    cfg = _duplicated_train_cfg(holdout)
    expected = (f"DATASETS.SELECTION_HOLDOUT {holdout!r} holds out 3 image file(s), and the 6 records of DATASETS.TRAIN "
                "['twentieth_three_images', 'twentieth_three_images'] are all of these files (an image listed more "
                "than once leaves training with every copy): nothing would be left to train on")
    with pytest.raises(SelectionError) as e:
        selection_dataset(cfg)
    assert str(e.value) == expected
    with pytest.raises(SelectionError) as e:
        exclude_selection_holdout(cfg, [d for n in cfg.DATASETS.TRAIN for d in DatasetCatalog.get(n)])
    assert str(e.value) == expected


def test_a_holdout_of_a_duplicated_train_set_that_leaves_images_trains_on_them():
    from detectron2.data import DatasetCatalog

    from pedet.data.selection import exclude_selection_holdout, selection_dataset, selection_holdout_files

    cfg = _duplicated_train_cfg(1)
    assert selection_dataset(cfg)
    dicts = [d for n in cfg.DATASETS.TRAIN for d in DatasetCatalog.get(n)]
    held_out = selection_holdout_files(cfg)
    kept = exclude_selection_holdout(cfg, dicts)
    assert len(held_out) == 1 and len(kept) == 4 and not {d["file_name"] for d in kept} & held_out


def test_a_torchscript_export_as_model_weights_is_named_as_such(tmp_path):
    """MODEL.WEIGHTS of a tools/export.py --format torchscript file: torch.load's weights-only refusal ('Cannot use
    weights_only=True with TorchScript archives ... In PyTorch 2.6, we changed the default ...') was reported as a
    'truncated or damaged checkpoint'."""
    import torch

    from pedet.engine.checkpoint import CheckpointFileError, load_checkpoint_file

    ts, pth = tmp_path / "model.ts", tmp_path / "model.pth"
    module = torch.nn.Linear(2, 1)
    torch.jit.save(torch.jit.script(module), str(ts))
    torch.save({"model": module.state_dict()}, pth)
    with pytest.raises(CheckpointFileError) as e:
        load_checkpoint_file(str(ts))
    assert str(e.value) == (f"{ts}: a TorchScript archive (e.g. tools/export.py --format torchscript), not a "
                            "checkpoint: run it with torch.jit.load; MODEL.WEIGHTS needs the training checkpoint it "
                            "was exported from (e.g. model_final.pth)")
    assert set(load_checkpoint_file(str(pth))["model"]) == {"weight", "bias"}  # torch.save's zip still loads
