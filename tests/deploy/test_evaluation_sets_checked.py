"""The trainer reads the ground truth of the sets it will evaluate before the first iteration."""
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from pedet.engine import PedestrianTrainer
from pedet.evaluation.io import EvalInputError

from .test_trainer_compat import _cfg


@pytest.fixture
def bad_test_set():
    """A hand-registered test set whose one box has vis_ratio 2: training never reads it, the evaluator refuses it."""
    record = {"file_name": "a.jpg", "image_id": 1, "height": 64, "width": 64, "annotations": [
        {"bbox": [1.0, 1.0, 10.0, 20.0], "bbox_mode": 1, "category_id": 0, "vis_ratio": 2.0}]}
    DatasetCatalog.register("_bad_test_set", lambda: [record])
    MetadataCatalog.get("_bad_test_set").set(thing_classes=["person"], evaluator_type="citypersons")
    yield "_bad_test_set"
    DatasetCatalog.remove("_bad_test_set")
    MetadataCatalog.remove("_bad_test_set")


@pytest.mark.parametrize("eval_period", ["0", "5"])  # evaluated after the last iteration either way
def test_a_test_set_the_evaluator_cannot_read_stops_the_run_at_its_start(tiny_root, tmp_path, bad_test_set,
                                                                          eval_period):
    """Before: the run trained, then stopped with this error at its first (or final) evaluation."""
    cfg = _cfg("opl", str(tmp_path), "DATASETS.TEST", f"('{bad_test_set}',)", "TEST.EVAL_PERIOD", eval_period,
               "SOLVER.MAX_ITER", "10")
    with pytest.raises(EvalInputError, match=r"^dataset '_bad_test_set': image 1: 'vis_ratio' is 2.0, outside "
                                             r"\[0, 1\]"):
        PedestrianTrainer(cfg)
