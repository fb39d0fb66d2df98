"""
Tests of reploss.roi_heads.RepLossROIHeads: alpha = beta = 0 reproduces StandardROIHeads exactly, the gt_index trick
carries the target and G_Rep, ignore boxes never become repulsion targets (unless asked), and exclude_bg.
"""
import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads import build_roi_heads
from detectron2.structures import Boxes, ImageList, Instances, pairwise_iou
from detectron2.utils.events import EventStorage

IMAGE = (64, 64)


def feature_shapes(cfg):
    ch = cfg.MODEL.FPN.OUT_CHANNELS
    return {f"p{i}": ShapeSpec(channels=ch, stride=2 ** i) for i in range(2, 7)}


def build(cfg, name, alpha, beta):
    cfg = cfg.clone()
    cfg.MODEL.ROI_HEADS.NAME = name
    cfg.MODEL.REPLOSS.ALPHA, cfg.MODEL.REPLOSS.BETA = alpha, beta
    return build_roi_heads(cfg, feature_shapes(cfg)).train()


def make_inputs(cfg, seed=0):
    """Two 64x64 images: 4 overlapping GT in image 0, none in image 1; 30 random proposals each."""
    g = torch.Generator().manual_seed(seed)
    features = {f"p{i}": torch.randn(2, cfg.MODEL.FPN.OUT_CHANNELS, 64 // 2 ** i, 64 // 2 ** i, generator=g)
                for i in range(2, 7)}
    gts = torch.tensor([[4.0, 4.0, 20.0, 40.0], [12.0, 6.0, 28.0, 42.0], [22.0, 4.0, 38.0, 40.0], [40, 10, 52, 40]])
    targets = [Instances(IMAGE, gt_boxes=Boxes(gts), gt_classes=torch.zeros(4, dtype=torch.long)),
               Instances(IMAGE, gt_boxes=Boxes(torch.zeros(0, 4)), gt_classes=torch.zeros(0, dtype=torch.long))]
    proposals = []
    for _ in range(2):
        xy = torch.rand(30, 2, generator=g) * 40
        boxes = torch.cat([xy, xy + 8 + torch.rand(30, 2, generator=g) * 24], dim=1).clamp(max=64)
        proposals.append(Instances(IMAGE, proposal_boxes=Boxes(boxes), objectness_logits=torch.randn(30, generator=g)))
    return ImageList(torch.zeros(2, 3, *IMAGE), [IMAGE, IMAGE]), features, proposals, targets


def test_alpha_beta_zero_is_exactly_standard_roi_heads(tiny_cfg):
    ours = build(tiny_cfg, "RepLossROIHeads", 0.0, 0.0)
    base = build(tiny_cfg, "StandardROIHeads", 0.0, 0.0)
    base.load_state_dict(ours.state_dict())
    images, features, proposals, targets = make_inputs(tiny_cfg)
    with EventStorage():
        torch.manual_seed(1)  # the fg/bg sampler draws from the global generator
        _, got = ours(images, features, proposals, targets)
        torch.manual_seed(1)
        _, want = base(images, features, proposals, targets)
    assert got.keys() == want.keys() == {"loss_cls", "loss_box_reg"}
    assert all(torch.equal(got[k], want[k]) for k in want)
    sum(got.values()).backward()
    sum(want.values()).backward()
    grads = dict(base.named_parameters())
    assert all(torch.equal(p.grad, grads[n].grad) for n, p in ours.named_parameters())


def test_reploss_roi_heads_adds_the_repulsion_terms(tiny_cfg):
    heads = build(tiny_cfg, "RepLossROIHeads", 0.5, 0.5)
    with EventStorage():
        _, losses = heads(*make_inputs(tiny_cfg))
    assert set(losses) == {"loss_cls", "loss_box_reg", "loss_rep_gt", "loss_rep_box"}
    assert losses["loss_rep_gt"] > 0 and losses["loss_rep_box"] > 0  # image 0's GT overlap each other


def test_gt_index_names_the_matched_gt_and_rep_boxes_the_best_other_gt(tiny_cfg):
    heads = build(tiny_cfg, "RepLossROIHeads", 0.5, 0.5)
    _, _, proposals, targets = make_inputs(tiny_cfg)
    with EventStorage():
        sampled = heads.label_and_sample_proposals(proposals, targets)
    p, t = sampled[0], targets[0]
    fg = p.gt_classes == 0
    assert fg.sum() >= 4  # the 4 GT boxes themselves are appended as proposals
    # the carried index points at the GT Detectron2 copied into gt_boxes
    assert torch.equal(t.gt_boxes.tensor[p.gt_index[fg]], p.gt_boxes.tensor[fg])
    # G_Rep by brute force: highest IoU with the *proposal* among the other GT (Eq. 3)
    iou = pairwise_iou(p.proposal_boxes[fg], t.gt_boxes)
    iou[torch.arange(int(fg.sum())), p.gt_index[fg]] = -1
    best, best_index = iou.max(dim=1)
    expected_valid = best > 0
    assert torch.equal(p.rep_valid[fg], expected_valid)
    assert torch.equal(p.rep_boxes[fg][expected_valid], t.gt_boxes.tensor[best_index[expected_valid]])
    # background ROIs and the GT-less image carry placeholders
    assert (p.gt_index[~fg] == -1).all() and not p.rep_valid[~fg].any()
    q = sampled[1]
    assert len(q) > 0 and (q.gt_index == -1).all() and not q.rep_valid.any() and q.rep_boxes.shape == (len(q), 4)


def _one_person_and_an_ignore_region():
    """GT [0,0,10,30]; ignore box [8,0,30,30]; proposals: the GT itself, one half in both, one inside the ignore box."""
    targets = [Instances(IMAGE, gt_boxes=Boxes(torch.tensor([[0.0, 0.0, 10.0, 30.0]])),
                         gt_classes=torch.zeros(1, dtype=torch.long))]
    ignore = [Instances(IMAGE, gt_boxes=Boxes(torch.tensor([[8.0, 0.0, 30.0, 30.0]])),
                        gt_classes=torch.full((1,), -1))]
    boxes = torch.tensor([[1.0, 0.0, 11.0, 30.0], [12.0, 2.0, 28.0, 28.0], [40.0, 40.0, 60.0, 60.0]])
    proposals = [Instances(IMAGE, proposal_boxes=Boxes(boxes), objectness_logits=torch.zeros(3))]
    return proposals, targets, ignore


def test_ignore_boxes_are_never_repulsion_targets_by_default(tiny_cfg):
    proposals, targets, ignore = _one_person_and_an_ignore_region()
    with EventStorage():
        default = build(tiny_cfg, "RepLossROIHeads", 0.5, 0.5).label_and_sample_proposals(proposals, targets, ignore)
        tiny_cfg.MODEL.REPLOSS.REP_GT_USE_IGNORE = True
        use = build(tiny_cfg, "RepLossROIHeads", 0.5, 0.5).label_and_sample_proposals(proposals, targets, ignore)
    # the only other box overlapping the positives is the ignore box: by default no G_Rep at all
    assert not default[0].rep_valid.any()
    # REP_GT_USE_IGNORE: positive [1,0,11,30] overlaps the ignore box (IoU 3*30 / (300 + 660 - 90) > 0) -> G_Rep = it
    fg = use[0].gt_classes == 0
    assert use[0].rep_valid[fg].all()
    assert torch.equal(use[0].rep_boxes[fg], ignore[0].gt_boxes.tensor.expand(int(fg.sum()), 4))


def test_exclude_bg_removes_background_proposals_inside_ignore_regions(tiny_cfg):
    proposals, targets, ignore = _one_person_and_an_ignore_region()
    # [12,2,28,28] lies entirely in the ignore box (IoA 1 > 0.5) and has IoU 0 with the GT: background candidate
    inside = torch.tensor([12.0, 2.0, 28.0, 28.0])
    with EventStorage():
        drop = build(tiny_cfg, "RepLossROIHeads", 0.5, 0.5).label_and_sample_proposals(proposals, targets, ignore)
        tiny_cfg.INPUT.IGNORE_MODE = "exclude_bg"
        excl = build(tiny_cfg, "RepLossROIHeads", 0.5, 0.5).label_and_sample_proposals(proposals, targets, ignore)
    # the ROI batch (64) is larger than the 4 candidates (3 proposals + the GT), so "drop" samples them all
    def has(p):
        return bool((p.proposal_boxes.tensor == inside).all(dim=1).any())
    assert has(drop[0]) and len(drop[0]) == 4
    assert not has(excl[0]) and len(excl[0]) == 3
    # the positives (GT and [1,0,11,30], IoA with the ignore box 0.3) and the far background stay
    assert int((excl[0].gt_classes == 0).sum()) == 2


def test_ignored_persons_serve_as_repulsion_gt_but_riders_do_not(tiny_cfg):
    """GT [0,0,10,30]; ignore boxes: a person too small for the train rule [8,0,30,30] and a rider [0,0,12,30]."""
    proposals, targets, _ = _one_person_and_an_ignore_region()
    ignore = [Instances(IMAGE, gt_boxes=Boxes(torch.tensor([[8.0, 0.0, 30.0, 30.0], [0.0, 0.0, 12.0, 30.0]])),
                        gt_classes=torch.full((2,), -1), ignored_person=torch.tensor([True, False]))]
    with EventStorage():
        off = build(tiny_cfg, "RepLossROIHeads", 0.5, 0.5).label_and_sample_proposals(proposals, targets, ignore)
        tiny_cfg.MODEL.REPLOSS.REP_GT_USE_IGNORED_PERSONS = True
        on = build(tiny_cfg, "RepLossROIHeads", 0.5, 0.5).label_and_sample_proposals(proposals, targets, ignore)
    assert not off[0].rep_valid.any()
    # positive [1,0,11,30]: IoU with the rider (300 / 360 = 0.83) beats the person (90 / 870 = 0.10), but only the
    # person is a candidate -> G_Rep = [8,0,30,30] for every positive
    fg = on[0].gt_classes == 0
    assert int(fg.sum()) == 2 and on[0].rep_valid[fg].all()
    assert torch.equal(on[0].rep_boxes[fg], ignore[0].gt_boxes.tensor[:1].expand(2, 4))
