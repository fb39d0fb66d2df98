"""
Tests of reploss.rpn.PedestrianRPN: ignore boxes are never matched; with INPUT.IGNORE_MODE "exclude_bg" the anchors
Detectron2 would label background inside an ignore box are labelled -1 (not sampled); with "drop" the labels are
Detectron2's RPN's exactly. Hand-built anchors and boxes on a 64 x 64 image, then a hand-built image through the model.
"""
import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_model
from detectron2.modeling.proposal_generator import build_proposal_generator
from detectron2.structures import Boxes, Instances, pairwise_ioa
from detectron2.utils.events import EventStorage

from reploss.roi_heads import RepLossROIHeads
from reploss.rpn import PedestrianRPN

IMAGE = (64, 64)


def build_rpn(cfg, name="PedestrianRPN", mode="drop"):
    cfg = cfg.clone()
    cfg.MODEL.PROPOSAL_GENERATOR.NAME = name
    cfg.INPUT.IGNORE_MODE = mode
    shapes = {f"p{i}": ShapeSpec(channels=cfg.MODEL.FPN.OUT_CHANNELS, stride=2 ** i) for i in range(2, 7)}
    return build_proposal_generator(cfg, shapes).train()


def hand_built():
    """
    GT person [40,0,56,40]; ignore box [0,0,20,20] (a rider, or a person below the train height).
    Anchors: 0 [0,0,10,10] inside the ignore box (IoA 1); 1 [0,0,30,30] over it (IoA 400 / 900 = 0.44);
             2 [40,0,56,40] = the GT (IoU 1); 3 [10,30,30,60] far from both (IoU 0, IoA 0);
             4 [2,2,18,18] inside the ignore box and IoU 0 with the GT.
    """
    inst = Instances(IMAGE, gt_boxes=Boxes(torch.tensor([[40.0, 0.0, 56.0, 40.0], [0.0, 0.0, 20.0, 20.0]])),
                     gt_classes=torch.tensor([0, -1]))
    anchors = [Boxes(torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 30.0, 30.0], [40.0, 0.0, 56.0, 40.0],
                                   [10.0, 30.0, 30.0, 60.0], [2.0, 2.0, 18.0, 18.0]]))]
    return anchors, inst


def test_exclude_bg_labels_background_anchors_in_ignore_boxes_minus_one(tiny_cfg):
    anchors, inst = hand_built()
    with EventStorage():
        (drop,), _ = build_rpn(tiny_cfg, mode="drop").label_and_sample_anchors(anchors, [inst])
        (excl,), (matched,) = build_rpn(tiny_cfg, mode="exclude_bg").label_and_sample_anchors(anchors, [inst])
    # 5 anchors < 256 per image: sampling keeps every label
    assert drop.tolist() == [0, 0, 1, 0, 0]  # the ignore box is not a GT: anchors on it are plain negatives
    assert excl.tolist() == [-1, 0, 1, 0, -1]  # IoA 1 and 1 > 0.5 -> -1; IoA 0.44 stays a negative
    assert torch.equal(matched[2], inst.gt_boxes.tensor[0])  # matched on the valid box, never the ignore box


def test_positive_anchor_inside_an_ignore_box_stays_positive(tiny_cfg):
    # the GT itself lies in an ignore box (IoA 1): its anchor is a positive in both modes
    inst = Instances(IMAGE, gt_boxes=Boxes(torch.tensor([[4.0, 4.0, 20.0, 44.0], [0.0, 0.0, 30.0, 50.0]])),
                     gt_classes=torch.tensor([0, -1]))
    anchors = [Boxes(torch.tensor([[4.0, 4.0, 20.0, 44.0], [20.0, 4.0, 30.0, 20.0]]))]
    with EventStorage():
        (labels,), _ = build_rpn(tiny_cfg, mode="exclude_bg").label_and_sample_anchors(anchors, [inst])
    assert labels.tolist() == [1, -1]  # anchor 1: IoU 0 with the GT, inside the ignore box


def test_drop_mode_is_detectron2_rpn_exactly(tiny_cfg):
    anchors, inst = hand_built()
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(600, 2, generator=g) * 56
    anchors = [Boxes(torch.cat([xy, xy + 4 + torch.rand(600, 2, generator=g) * 30], dim=1))]
    ours, base = build_rpn(tiny_cfg, mode="drop"), build_rpn(tiny_cfg, name="RPN")
    valid = inst[inst.gt_classes >= 0]
    torch.manual_seed(1)
    labels, boxes = ours.label_and_sample_anchors(anchors, [inst])
    torch.manual_seed(1)
    base_labels, base_boxes = base.label_and_sample_anchors(anchors, [valid])
    assert (labels[0] == 0).sum() > 0 and (labels[0] == -1).sum() > 0  # 600 > 256: sampling did happen
    assert torch.equal(labels[0], base_labels[0]) and torch.equal(boxes[0], base_boxes[0])


def test_image_without_valid_gt_has_only_negatives_and_excluded(tiny_cfg):
    anchors, inst = hand_built()
    only_ignore = inst[inst.gt_classes < 0]
    with EventStorage():
        (labels,), (matched,) = build_rpn(tiny_cfg, mode="exclude_bg").label_and_sample_anchors(anchors, [only_ignore])
    assert labels.tolist() == [-1, 0, 0, 0, -1] and matched.shape == (5, 4)


def test_model_on_a_hand_built_image_trains_nothing_inside_the_ignore_box_as_negative(tiny_cfg, monkeypatch):
    """
    A 128 x 128 image with one person and a large ignore region: the RPN anchor labels and the R-CNN ROIs the model
    actually samples. With "exclude_bg" neither stage has a negative inside the ignore box; with "drop" both do.
    """
    ignore_box = torch.tensor([[64.0, 0.0, 128.0, 128.0]])
    inst = Instances((128, 128), gt_boxes=Boxes(torch.cat([torch.tensor([[8.0, 20.0, 40.0, 100.0]]), ignore_box])),
                     gt_classes=torch.tensor([0, -1]))
    image = torch.randint(0, 256, (3, 128, 128), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    seen = {}
    original = PedestrianRPN.label_and_sample_anchors

    def record(self, anchors, gt_instances):
        labels, boxes = original(self, anchors, gt_instances)
        seen["anchors"], seen["labels"] = Boxes.cat(anchors), labels[0]
        return labels, boxes

    monkeypatch.setattr(PedestrianRPN, "label_and_sample_anchors", record)
    sample_rois = RepLossROIHeads.label_and_sample_proposals

    def record_rois(self, proposals, targets, ignore_instances=None):
        sampled = sample_rois(self, proposals, targets, ignore_instances)
        seen["rois"] = sampled[0]
        return sampled

    monkeypatch.setattr(RepLossROIHeads, "label_and_sample_proposals", record_rois)
    inside, inside_rois = {}, {}
    for mode in ("drop", "exclude_bg"):
        cfg = tiny_cfg.clone()
        cfg.INPUT.IGNORE_MODE = mode
        model = build_model(cfg).train()
        with EventStorage():
            losses = model([{"image": image, "height": 128, "width": 128, "instances": inst}])
        assert all(torch.isfinite(v) for v in losses.values())
        in_ignore = pairwise_ioa(Boxes(ignore_box), seen["anchors"])[0] > 0.5
        inside[mode] = int(((seen["labels"] == 0) & in_ignore).sum())
        rois = seen["rois"]
        background = rois.gt_classes == cfg.MODEL.ROI_HEADS.NUM_CLASSES
        inside_rois[mode] = int((background & (pairwise_ioa(Boxes(ignore_box), rois.proposal_boxes)[0] > 0.5)).sum())
    assert inside["drop"] > 0 and inside["exclude_bg"] == 0
    assert inside_rois["drop"] > 0 and inside_rois["exclude_bg"] == 0
