"""
The RepLoss entry point end to end on the synthetic crowd set: 20 iterations of projects/RepLoss/train_net.py's
Trainer (pedet mapper and loader, RepLoss ROI heads) lower the total loss. Tiny config, 160 px, CPU.
"""
import numpy as np
from detectron2.utils.env import seed_all_rng

from .helpers import TINY_CONFIG, load_cfg, load_project_script


def test_twenty_iterations_on_synthetic_crowd_lower_the_loss(tmp_path):
    train_net = load_project_script("train_net.py")
    cfg = load_cfg(
        TINY_CONFIG,
        "INPUT.MIN_SIZE_TRAIN", (160,), "INPUT.MAX_SIZE_TRAIN", 160,
        # 4 positives per image at most: the 5-25 persons of every image (appended as proposals) fill them from the
        # first iteration, so the box terms keep one normaliser while the RPN improves
        "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", 16, "MODEL.ROI_HEADS.POSITIVE_FRACTION", 0.25,
        "MODEL.RPN.POST_NMS_TOPK_TRAIN", 100,
        "SOLVER.MAX_ITER", 20, "SOLVER.WARMUP_ITERS", 5, "SOLVER.BASE_LR", 0.02, "SOLVER.CHECKPOINT_PERIOD", 1000,
        "DATASETS.TEST", (), "TEST.EVAL_PERIOD", 0, "DATALOADER.NUM_WORKERS", 0, "SEED", 0,
        "OUTPUT_DIR", str(tmp_path),
    )
    seed_all_rng(cfg.SEED)  # train_net's default_setup does this; the data sampler's seed comes from numpy
    trainer = train_net.Trainer(cfg)
    trainer.train()
    total = np.array([v for v, _ in trainer.storage.history("total_loss").values()])
    assert len(total) == 20 and np.isfinite(total).all()
    for key in ("loss_rep_gt", "loss_rep_box"):
        assert np.isfinite([v for v, _ in trainer.storage.history(key).values()]).all()
    # measured (synthetic generator v4): seed 0 1.81 -> 1.45; seeds 1, 2: 1.71 -> 1.62, 1.66 -> 1.34
    assert total[-5:].mean() < total[:5].mean()
