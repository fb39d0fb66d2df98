#!/usr/bin/env python
"""
Training step time of Repulsion Loss against its Faster R-CNN baseline (issue 5 §4; goal: RepLoss <= 1.1x).

Both models are the same PedestrianRCNN R-50-FPN (projects/RepLoss/configs/Base-RCNN-FPN-Ped.yaml) with the same
initial weights; the baseline has MODEL.REPLOSS.ALPHA = BETA = 0 (exactly Detectron2's loss), RepLoss the paper's
0.5 / 0.5. The ROI sampler uses CrowdDet's 512 ROIs with up to half positives (the CrowdHuman config), so RepBox sees up
to 256 positives per image. Inputs are synthetic: uint8 noise images with N pedestrian-shaped GT boxes (h/w 2.5) in
overlapping groups, N = 25 (CrowdHuman's average, ~23) and 100 (a dense crowd).

Measured per step: forward + backward + SGD step, one CPU thread, baseline and RepLoss steps interleaved (A B A B ...)
so that machine load drifts affect both alike; the median over the measured steps is reported, as wall time and as
process CPU time. SGD runs with LR 0 (random weights with FrozenBN diverge within a few steps, docs/install.md §4):
the step does the full work but the weights stay those of step 0. A randomly initialised RPN proposes boxes that
rarely overlap a person, so the ROI heads would see only the appended GT boxes as positives; to time the head under a
trained model's load, the RPN runs in full (its losses included) and the ROI heads then get 1000 proposals per image
made of 20 per person (GT boxes jittered by 10 % of their size) plus random boxes (`TrainedLikeProposals`).

Also measured: `box_predictor.losses()` alone on a fixed set of 512 ROIs per image with P+ = 128 or 256 positives
around the N GT boxes, which isolates the cost RepLoss adds (RepGT: O(P); RepBox: a P x P IoU matrix per image).

    python benchmarks/reploss_step_time.py                      # the numbers in benchmarks/RESULTS.md
    python benchmarks/reploss_step_time.py --persons 25 --steps 3 --image-size 384   # quicker
"""
import argparse
import os
import statistics
import time

import pedet  # noqa: F401  (Pillow alias before any detectron2.data import)
import torch
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage
from torch import nn

from pedet.config import add_pedet_config
from pedet.utils.cli import check_no_repeats, int_at_least
from reploss import add_reploss_config

CONFIG = os.path.join(os.path.dirname(__file__), "..", "projects", "RepLoss", "configs", "Base-RCNN-FPN-Ped.yaml")


def make_cfg(alpha: float, beta: float, image_size: int):
    cfg = get_cfg()
    add_pedet_config(cfg)
    add_reploss_config(cfg)
    cfg.merge_from_file(CONFIG)
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 512  # CrowdDet (configs/crowdhuman)
    cfg.MODEL.ROI_HEADS.POSITIVE_FRACTION = 0.5
    cfg.MODEL.REPLOSS.ALPHA, cfg.MODEL.REPLOSS.BETA = alpha, beta
    cfg.INPUT.MIN_SIZE_TEST = cfg.INPUT.MAX_SIZE_TEST = image_size
    return cfg


def crowd_boxes(num: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """(num, 4) XYXY pedestrian boxes (h = 2.5 w) in groups of ~5 that overlap each other, inside size x size."""
    centres = torch.rand((num + 4) // 5, 2, generator=generator) * size
    centre = centres.repeat_interleave(5, dim=0)[:num] + torch.randn(num, 2, generator=generator) * size * 0.03
    centre = centre.clamp(0, size)  # so that no box is clipped to zero width
    h = size * (0.12 + 0.25 * torch.rand(num, generator=generator))
    w = h / 2.5
    boxes = torch.stack([centre[:, 0] - w / 2, centre[:, 1] - h / 2, centre[:, 0] + w / 2, centre[:, 1] + h / 2], 1)
    return boxes.clamp(0, size)


def make_batch(num_persons: int, size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    batch = []
    for _ in range(2):
        boxes = crowd_boxes(num_persons, size, g)
        inst = Instances((size, size), gt_boxes=Boxes(boxes), gt_classes=torch.zeros(num_persons, dtype=torch.long))
        image = torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=g)
        batch.append({"image": image, "instances": inst, "height": size, "width": size})
    return batch


class TrainedLikeProposals(nn.Module):
    """
    Wraps an RPN: runs it (forward and losses), then hands the ROI heads POST_NMS_TOPK_TRAIN proposals per image as a
    trained RPN would: 20 per person (GT boxes jittered by 10 % of their size) and random boxes for the rest.
    """

    def __init__(self, rpn: nn.Module, per_gt: int = 20, jitter: float = 0.1):
        super().__init__()
        self.rpn, self.per_gt, self.jitter = rpn, per_gt, jitter

    def forward(self, images, features, gt_instances=None):
        proposals, losses = self.rpn(images, features, gt_instances)
        if gt_instances is None:
            return proposals, losses
        g = torch.Generator().manual_seed(0)
        num = self.rpn.post_nms_topk[True]
        out = []
        for t in gt_instances:
            k = min(num, self.per_gt * len(t))
            gt = t.gt_boxes.tensor[torch.randint(len(t), (k,), generator=g)]
            size = (gt[:, 2:] - gt[:, :2]).repeat(1, 2)
            h, w = t.image_size
            xy = torch.rand(num - k, 2, generator=g) * torch.tensor([w, h])
            rand = torch.cat([xy, xy + 16 + torch.rand(num - k, 2, generator=g) * 0.3 * torch.tensor([w, h])], 1)
            boxes = Boxes(torch.cat([gt + torch.randn(k, 4, generator=g) * self.jitter * size, rand]))
            boxes.clip(t.image_size)
            out.append(Instances(t.image_size, proposal_boxes=boxes, objectness_logits=torch.zeros(num)))
        return out, losses


def step(model, optimizer, batch):
    """One training step; returns (wall s, CPU s, mean fg ROIs per image)."""
    with EventStorage() as storage:
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        losses = model(batch)
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
        wall, cpu = time.perf_counter() - t_wall, time.process_time() - t_cpu
        fg = storage.latest()["roi_head/num_fg_samples"][0]
    return wall, cpu, fg


def time_full_steps(num_persons: int, size: int, steps: int, warmup: int):
    models = {}
    for name, (alpha, beta) in {"baseline": (0.0, 0.0), "reploss": (0.5, 0.5)}.items():
        torch.manual_seed(0)  # same initial weights for both
        model = build_model(make_cfg(alpha, beta, size)).train()
        model.proposal_generator = TrainedLikeProposals(model.proposal_generator)
        models[name] = (model, torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9))
    batch = make_batch(num_persons, size, seed=num_persons)
    times = {name: [] for name in models}
    for i in range(warmup + steps):
        for name, (model, opt) in models.items():
            torch.manual_seed(100 + i)  # same ROI sampling in both models
            wall, cpu, fg = step(model, opt, batch)
            if i >= warmup:
                times[name].append((wall, cpu, fg))
    return {name: tuple(statistics.median(x[k] for x in t) for k in range(3)) for name, t in times.items()}


def time_losses_only(num_persons: int, num_fg: int, repeats: int):
    """Median seconds of box_predictor.losses() + backward with P+ = num_fg of 512 ROIs per image, 2 images."""
    g = torch.Generator().manual_seed(1)
    result = {}
    for name, (alpha, beta) in {"baseline": (0.0, 0.0), "reploss": (0.5, 0.5)}.items():
        torch.manual_seed(0)
        predictor = build_model(make_cfg(alpha, beta, 512)).roi_heads.box_predictor
        proposals = []
        for _ in range(2):
            gt = crowd_boxes(num_persons, 512, g)
            target = torch.randint(0, num_persons, (512,), generator=g)
            jitter = torch.randn(512, 4, generator=g) * 4
            boxes = gt[target] + jitter
            boxes[:, 2:] = torch.max(boxes[:, 2:], boxes[:, :2] + 2)  # valid proposals (width, height >= 2)
            p = Instances((512, 512), proposal_boxes=Boxes(boxes))
            p.gt_classes = torch.where(torch.arange(512) < num_fg, 0, 1)
            p.gt_boxes = Boxes(gt[target])
            p.gt_index = torch.where(p.gt_classes == 0, target, -1)
            p.rep_boxes = gt[(target + 1) % num_persons]
            p.rep_valid = p.gt_classes == 0
            proposals.append(p)
        features = torch.randn(1024, 1024, requires_grad=True)
        samples = []
        for _ in range(repeats):
            with EventStorage():
                t_wall, t_cpu = time.perf_counter(), time.process_time()
                losses = predictor.losses(predictor(features), proposals)
                sum(losses.values()).backward()
                samples.append((time.perf_counter() - t_wall, time.process_time() - t_cpu))
        result[name] = tuple(statistics.median(x[k] for x in samples) for k in range(2))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # values out of range were tracebacks (torch.set_num_threads(0), a median of no step) or timed nonsense
    parser.add_argument("--persons", type=int_at_least(1), nargs="+", default=[25, 100])
    parser.add_argument("--image-size", type=int_at_least(1), default=512)
    parser.add_argument("--steps", type=int_at_least(1), default=5, help="measured steps per model")
    parser.add_argument("--warmup", type=int_at_least(0), default=2)
    parser.add_argument("--threads", type=int_at_least(1), default=1)
    parser.add_argument("--parts", nargs="+", choices=["step", "losses"], default=["step", "losses"],
                        help="full training steps and/or box_predictor.losses() alone")
    args = parser.parse_args(argv)
    check_no_repeats(parser, "--persons", args.persons)  # its rows were measured and printed twice
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), image {args.image_size}x{args.image_size}, batch 2, "
          f"R-50-FPN, ROI batch 512 / 0.5 positive, {args.steps} measured steps after {args.warmup} warm-up")
    if "step" in args.parts:
        time_step_table(args)
    if "losses" in args.parts:
        time_losses_table(args)


def time_step_table(args):
    print("\n| persons/image | fg ROIs/image | baseline wall s | RepLoss wall s | ratio wall | baseline CPU s "
          "| RepLoss CPU s | ratio CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.persons:
        r = time_full_steps(n, args.image_size, args.steps, args.warmup)
        (bw, bc, bfg), (rw, rc, _) = r["baseline"], r["reploss"]
        print(f"| {n} | {bfg:.0f} | {bw:.2f} | {rw:.2f} | {rw / bw:.3f} | {bc:.2f} | {rc:.2f} | {rc / bc:.3f} |",
              flush=True)


def time_losses_table(args):
    print("\nbox_predictor.losses() + backward alone, 2 images x 512 ROIs:")
    print("\n| persons/image | P+/image | baseline wall ms | RepLoss wall ms | baseline CPU ms | RepLoss CPU ms "
          "| added CPU ms |")
    print("|---|---|---|---|---|---|---|")
    for n in args.persons:
        for fg in (128, 256):
            r = time_losses_only(n, fg, repeats=20)
            (bw, bc), (rw, rc) = r["baseline"], r["reploss"]
            print(f"| {n} | {fg} | {1e3 * bw:.1f} | {1e3 * rw:.1f} | {1e3 * bc:.1f} | {1e3 * rc:.1f} | "
                  f"{1e3 * (rc - bc):.1f} |", flush=True)


if __name__ == "__main__":
    main()
