"""A 20-iteration training run of the tiny CPU config on a few synthetic crowd images lowers the loss (issue §4)."""
import pedet  # noqa: F401
import torch
from detectron2.modeling import build_model
from detectron2.solver import build_optimizer
from detectron2.utils.events import EventStorage
from pedet.data.crowdhuman import load_crowdhuman_odgt
from pedet.data.mapper import PedestrianDatasetMapper
from pedet.data.synthetic import SplitSpec, generate_synthetic_crowd

from .tiny import tiny_cfg


def test_twenty_iterations_on_synthetic_crowd_lower_the_loss(tmp_path):
    spec = SplitSpec(num_images=4, seed=7, persons_per_image=(3, 6), image_size=(96, 128), min_height=24.0)
    odgt = generate_synthetic_crowd(str(tmp_path), "train", spec)
    dicts = load_crowdhuman_odgt(odgt, str(tmp_path / "Images"))
    cfg = tiny_cfg("opl_R18_synthetic_cpu.yaml",
                   ["INPUT.MIN_SIZE_TRAIN", (96,), "INPUT.MAX_SIZE_TRAIN", 128, "INPUT.RANDOM_FLIP", "none"])
    mapper = PedestrianDatasetMapper(cfg, True)
    batch = [mapper(d) for d in dicts]  # fixed batch: no augmentation left, so the losses are comparable
    model = build_model(cfg)
    model.train()
    optimizer = build_optimizer(cfg, model)  # SGD with the config's gradient clipping
    history = []
    with EventStorage():
        for _ in range(20):
            losses = model(batch)
            total = sum(losses.values())
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            history.append(total.item())
    assert all(torch.isfinite(torch.tensor(history)))
    first, last = sum(history[:3]) / 3, sum(history[-3:]) / 3
    assert last < 0.8 * first, history
