"""
Twelfth final "second person" trial, model side (issue 11): ``--resume`` where ``last_checkpoint`` names a file with
model weights only (a stripped or released checkpoint copied into the run folder, as the refusal of a folder without
``last_checkpoint`` suggests writing) loaded the weights and resumed at iteration 1, with no optimizer or LR-scheduler
state, and later overwrote the file, without a word; it is now one error naming the file.
"""
import pytest
import torch

from .test_bad_input_final8_model import _trainer


@pytest.mark.parametrize("name", ["model_final.pth", "model_0000009.pth"])
def test_resume_from_a_weights_only_checkpoint_is_one_error(tmp_path, name):
    from pedet.engine.checkpoint import CheckpointFileError

    first = _trainer(tmp_path)
    torch.save({"model": first.model.state_dict()}, tmp_path / name)
    (tmp_path / "last_checkpoint").write_text(name)
    saved = (tmp_path / name).read_bytes()
    again = _trainer(tmp_path)
    with pytest.raises(CheckpointFileError) as e:
        again.resume_or_load(resume=True)
    msg = str(e.value)
    assert msg.startswith(f"{tmp_path / name}: --resume needs a training checkpoint"), msg
    assert "model weights only" in msg and "MODEL.WEIGHTS" in msg and "\n" not in msg
    assert again.start_iter == 0 and (tmp_path / name).read_bytes() == saved


def test_weights_only_file_still_loads_as_model_weights_and_training_checkpoint_still_resumes(tmp_path):
    first = _trainer(tmp_path / "run")
    first.iter = 9
    first.checkpointer.save("model_0000009")
    weights = tmp_path / "weights.pth"
    torch.save({"model": first.model.state_dict()}, weights)
    again = _trainer(tmp_path / "run")
    again.resume_or_load(resume=True)
    assert again.start_iter == 10
    fine_tune = _trainer(tmp_path / "new")
    fine_tune.cfg.defrost()
    fine_tune.cfg.MODEL.WEIGHTS = str(weights)
    fine_tune.resume_or_load(resume=True)  # nothing to resume in the new folder: starts from MODEL.WEIGHTS at 0
    assert fine_tune.start_iter == 0
    for k, v in first.model.state_dict().items():
        assert torch.equal(v, fine_tune.model.state_dict()[k]), k
