"""
Config keys of the Repulsion Loss project ("Repulsion Loss: Detecting Pedestrians in a Crowd", Wang et al., CVPR 2018).

Origins in the comments follow docs/methods.md: PAPER (stated in the paper), PEER (a peer implementation), CHOICE (ours,
listed in docs/methods.md §2.11 as B1-B12).
"""
from detectron2.config import CfgNode as CN


def add_reploss_config(cfg: CN) -> None:
    """
    Add the MODEL.REPLOSS node to `cfg` (in place), after pedet's own keys (pedet.config.add_pedet_config) if they
    are not there yet: the project's yaml files set them (INPUT.IGNORE_MODE), and without them merging one was
    yacs's KeyError.
    """
    from pedet.config import add_pedet_config

    add_pedet_config(cfg)  # pedet's keys first, if not there yet
    _C = cfg
    _C.MODEL.REPLOSS = CN()

    # Loss weights of Eq. (1): L = L_Attr + ALPHA * L_RepGT + BETA * L_RepBox. Both >= 0; 0 switches a term off and
    # removes its key from the loss dict, so ALPHA = BETA = 0 is exactly Detectron2's Faster R-CNN loss dict.
    # PAPER Table 2: alpha = beta = 0.5 is the best setting (alpha + beta = 1 in every row).
    _C.MODEL.REPLOSS.ALPHA = 0.5
    _C.MODEL.REPLOSS.BETA = 0.5

    # Switch point sigma of Smooth_ln (Eq. 5) for RepGT, in [0, 1]. PAPER Table 1: sigma = 1.0 is best for RepGT
    # ("directly sum over -ln(1 - IoG) with no smooth at all"); 1.0 is realised as 1 - SIGMA_EPS (CHOICE B1).
    _C.MODEL.REPLOSS.SIGMA_GT = 1.0
    # Switch point sigma of Smooth_ln for RepBox, in [0, 1]. PAPER Table 1: sigma = 0 is best for RepBox (Smooth_ln
    # becomes the identity: the plain sum of IoUs).
    _C.MODEL.REPLOSS.SIGMA_BOX = 0.0
    # Smooth_ln uses sigma_eff = min(sigma, 1 - SIGMA_EPS): finite value and gradient at IoG = 1 (CHOICE B1), in (0, 1).
    _C.MODEL.REPLOSS.SIGMA_EPS = 1e-3

    # Normalisation (docs/methods.md §2.5, CHOICE B2), one of:
    #   "d2":    loss_box_reg = Detectron2's (sum / R sampled ROIs), loss_rep_gt = ALPHA * sum / R,
    #            loss_rep_box = BETA * (|P+| / R) * RepBox: the paper's objective scaled by |P+| / R, so the paper's
    #            relative weights hold and ALPHA = BETA = 0 is the Detectron2 baseline.
    #   "paper": the paper's normalisation, attraction and RepGT divided by |P+| (changes the box-loss weight about
    #            4x against Detectron2: compare it only with a baseline trained in the same mode).
    _C.MODEL.REPLOSS.NORM_MODE = "d2"

    # A repulsion GT with IoU(G_Attr, G_Rep) >= this value is treated as a duplicate of the target and skipped
    # (CHOICE B6; CrowdHuman has near-duplicate full-body boxes). Range (0, 1]; 1.0 skips exact duplicates only.
    _C.MODEL.REPLOSS.REP_GT_DUP_IOU = 0.95
    # Whether ignore boxes (gt_classes == -1) may serve as G_Rep of RepGT. They are never attraction targets and never
    # take part in RepBox. CHOICE B8: False (ignore regions are not pedestrians).
    _C.MODEL.REPLOSS.REP_GT_USE_IGNORE = False
    # Whether the persons that training ignores only for their height or visibility (CityPersons pedestrians outside
    # the train rule: the mapper's `ignored_person` flag, pedet.data.mapper.IGNORED_PERSON_REASONS) may serve as G_Rep
    # of RepGT, while riders, groups and ignore regions may not. They are the crowd neighbours RepGT should push away
    # from. CHOICE: False here, True in the CityPersons configs. Implied for them when REP_GT_USE_IGNORE is True.
    _C.MODEL.REPLOSS.REP_GT_USE_IGNORED_PERSONS = False
    # With INPUT.IGNORE_MODE "exclude_bg": an RPN anchor labelled background, or an R-CNN proposal that would be
    # background, whose IoA (intersection over its own area) with some ignore box exceeds this value is not used as a
    # negative (anchor label -1, proposal not sampled). Range [0, 1). CHOICE (CrowdDet-like, PEER [R18]).
    _C.MODEL.REPLOSS.IGNORE_IOA_THRESH = 0.5
    # RepBox is O(P^2) per image; if > 0, a random subset of at most this many positives per image enters RepBox
    # (docs/methods.md §2.7). 0 = all positives (Faster R-CNN has at most 512 * POSITIVE_FRACTION per image). CHOICE.
    _C.MODEL.REPLOSS.REP_BOX_MAX_PER_IMAGE = 0
    # The pairs of RepBox (Eq. 6: "two proposals randomly sampled from two different subsets", a subset = the positives
    # of one target): "all" = every pair of positives with different targets (our reading, CHOICE B9); "one_per_gt" =
    # one positive drawn at random per target, then every pair of those (pedet.layers.repulsion.REP_BOX_PAIRINGS).
    _C.MODEL.REPLOSS.REP_BOX_PAIRING = "all"


def check_reploss_config(cfg: CN) -> None:
    """
    ``MODEL.REPLOSS`` values and the key combinations the RepLoss model needs, checked before anything is built: a
    value that would crash deep inside, or silently change the loss (a negative weight, a sigma outside [0, 1]) ->
    one-line ``pedet.config.ConfigError`` naming the key. train_net.setup() calls it after pedet.config.check_config.
    """
    from detectron2.modeling import BACKBONE_REGISTRY, META_ARCH_REGISTRY, GeneralizedRCNN

    from pedet.config import (backbone_output_names, build_meta_model, check_in_features, check_model_builds,
                              check_numbers, check_rules, config_error, number_in, one_of)
    from pedet.layers.repulsion import REP_BOX_PAIRINGS

    from .meta_arch import PedestrianRCNN

    unit, non_negative = number_in(0.0, 1.0), number_in(0.0)
    check_rules(cfg.MODEL.REPLOSS, "MODEL.REPLOSS", {
        "ALPHA": non_negative, "BETA": non_negative, "SIGMA_GT": unit, "SIGMA_BOX": unit,
        "SIGMA_EPS": number_in(0.0, 1.0, low_open=True, high_open=True), "NORM_MODE": one_of("d2", "paper"),
        "REP_GT_DUP_IOU": number_in(0.0, 1.0, low_open=True), "IGNORE_IOA_THRESH": number_in(0.0, 1.0, high_open=True),
        "REP_BOX_MAX_PER_IMAGE": number_in(0), "REP_BOX_PAIRING": one_of(*REP_BOX_PAIRINGS),
    })
    check_rules(cfg.MODEL.ROI_HEADS, "MODEL.ROI_HEADS", {"NUM_CLASSES": number_in(1),
                                                         "SCORE_THRESH_TEST": unit, "NMS_THRESH_TEST": unit,
                                                         "BATCH_SIZE_PER_IMAGE": number_in(1),
                                                         "POSITIVE_FRACTION": unit})
    # Faster R-CNN keys that Detectron2 asserts on deep inside (no key named), fails on after the first step, or
    # trains nonsense with in silence (no sampled proposal, one proposal per image, a box head without features);
    # POOLER_SAMPLING_RATIO <= 0 is ROIAlign's adaptive sampling (legal)
    box_losses = one_of("smooth_l1", "giou", "diou", "ciou")  # detectron2's box-regression losses
    check_rules(cfg.MODEL.RPN, "MODEL.RPN", {
        "BATCH_SIZE_PER_IMAGE": number_in(1), "POSITIVE_FRACTION": unit, "NMS_THRESH": unit,
        "PRE_NMS_TOPK_TRAIN": number_in(1), "POST_NMS_TOPK_TRAIN": number_in(1), "PRE_NMS_TOPK_TEST": number_in(1),
        "POST_NMS_TOPK_TEST": number_in(1), "BBOX_REG_LOSS_TYPE": box_losses,
        "LOSS_WEIGHT": non_negative, "BBOX_REG_LOSS_WEIGHT": non_negative,  # a negative weight: gradient ascent
    })
    check_numbers(cfg, ["MODEL.RPN.CONV_DIMS"])
    conv_dims = list(cfg.MODEL.RPN.CONV_DIMS)  # [0]: a head of zero channels, built, then failed at the first step
    if any(d != -1 and d < 1 for d in conv_dims):
        raise config_error("MODEL.RPN.CONV_DIMS", conv_dims, "every value must be >= 1 (or -1: the input's channels)")
    check_rules(cfg.MODEL.ROI_BOX_HEAD, "MODEL.ROI_BOX_HEAD", {
        "POOLER_RESOLUTION": number_in(1), "POOLER_SAMPLING_RATIO": number_in(), "BBOX_REG_LOSS_TYPE": box_losses,
        "BBOX_REG_LOSS_WEIGHT": non_negative, "NUM_CONV": number_in(0), "NUM_FC": number_in(0),  # -1 = 0 layers
        "CONV_DIM": number_in(0), "FC_DIM": number_in(0),
    })
    for node in ("RPN", "ROI_BOX_HEAD"):  # Box2BoxTransform unpacks (wx, wy, ww, wh) at the first step, divides by them
        weights = cfg.MODEL[node].BBOX_REG_WEIGHTS
        if len(weights) != 4 or not all(number_in(0.0, low_open=True)[0](w) for w in weights):
            raise config_error(f"MODEL.{node}.BBOX_REG_WEIGHTS", weights, "must be 4 finite numbers > 0 (wx, wy, ww, "
                                                                          "wh)")
    head = cfg.MODEL.ROI_BOX_HEAD
    box_head_layers = head.NAME == "FastRCNNConvFCHead" and cfg.MODEL.ROI_HEADS.NAME != "Res5ROIHeads"  # C4: no layers
    if box_head_layers and (head.NUM_CONV + head.NUM_FC < 1 or (head.NUM_CONV and head.CONV_DIM < 1)
                            or (head.NUM_FC and head.FC_DIM < 1)):
        raise config_error("MODEL.ROI_BOX_HEAD.NUM_CONV / NUM_FC", (head.NUM_CONV, head.NUM_FC),
                           "the box head needs at least one layer (and CONV_DIM / FC_DIM >= 1 for its layers)")
    check_numbers(cfg, ["MODEL.RPN.IOU_THRESHOLDS", "MODEL.RPN.IOU_LABELS", "MODEL.ROI_HEADS.IOU_THRESHOLDS",
                        "MODEL.ROI_HEADS.IOU_LABELS"])
    for node in ("RPN", "ROI_HEADS"):
        thresholds, labels = list(cfg.MODEL[node].IOU_THRESHOLDS), list(cfg.MODEL[node].IOU_LABELS)
        if not thresholds or not all(0 < t <= 1 for t in thresholds) or thresholds != sorted(thresholds):
            raise config_error(f"MODEL.{node}.IOU_THRESHOLDS", thresholds, "must be increasing IoUs in (0, 1]")
        if len(labels) != len(thresholds) + 1 or any(x not in (-1, 0, 1) for x in labels):
            raise config_error(f"MODEL.{node}.IOU_LABELS", labels, f"must be {len(thresholds) + 1} labels (one per "
                               "IoU interval of IOU_THRESHOLDS), each -1, 0 or 1")
    anchors = cfg.MODEL.ANCHOR_GENERATOR
    for key, values in (("SIZES", anchors.SIZES), ("ASPECT_RATIOS", anchors.ASPECT_RATIOS)):
        flat = [v for level in values for v in (level if isinstance(level, (list, tuple)) else [level])]
        if not flat or not all(isinstance(v, (int, float)) and 0 < v < float("inf") for v in flat):
            raise config_error(f"MODEL.ANCHOR_GENERATOR.{key}", values, "every value must be a finite number > 0")
    if not 0.0 <= anchors.OFFSET < 1.0:  # Detectron2's bare "assert 0.0 <= offset < 1.0" said only "1.0"
        raise config_error("MODEL.ANCHOR_GENERATOR.OFFSET", anchors.OFFSET, "must be in [0, 1) (the first anchor's "
                           "centre, as a fraction of the stride)")
    from detectron2.modeling import PROPOSAL_GENERATOR_REGISTRY
    from detectron2.modeling.proposal_generator.rrpn import RRPN

    name = cfg.MODEL.PROPOSAL_GENERATOR.NAME
    if name in PROPOSAL_GENERATOR_REGISTRY and issubclass(PROPOSAL_GENERATOR_REGISTRY.get(name), RRPN):
        raise config_error("MODEL.PROPOSAL_GENERATOR.NAME", name, "rotated proposals: the pedestrian boxes are "
                                                                  "axis-aligned (RPN / PedestrianRPN)")
    if cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE == "ROIAlignRotated":  # built, then a bare assert at the first step
        raise config_error("MODEL.ROI_BOX_HEAD.POOLER_TYPE", "ROIAlignRotated", "rotated boxes: the pedestrian "
                           "boxes and proposals are axis-aligned (ROIAlignV2, ROIAlign or ROIPool)")
    from detectron2.modeling.anchor_generator import ANCHOR_GENERATOR_REGISTRY, RotatedAnchorGenerator

    name = cfg.MODEL.ANCHOR_GENERATOR.NAME  # rotated anchors failed at the first step with a bare assert on a shape
    if name in ANCHOR_GENERATOR_REGISTRY and issubclass(ANCHOR_GENERATOR_REGISTRY.get(name), RotatedAnchorGenerator):
        raise config_error("MODEL.ANCHOR_GENERATOR.NAME", name, "rotated anchors: the pedestrian boxes are "
                                                                "axis-aligned (DefaultAnchorGenerator)")
    for key in ("MASK_ON", "KEYPOINT_ON"):  # the pedestrian data sets have boxes only
        if cfg.MODEL[key]:
            raise config_error(f"MODEL.{key}", True, "the pedestrian data sets have no masks or keypoints")
    if cfg.TEST.AUG.ENABLED:
        raise config_error("TEST.AUG.ENABLED", True, "test-time augmentation is not implemented in this train_net.py")
    arch = META_ARCH_REGISTRY.get(cfg.MODEL.META_ARCHITECTURE) if cfg.MODEL.META_ARCHITECTURE in META_ARCH_REGISTRY \
        else None
    if arch is not None and not issubclass(arch, PedestrianRCNN):
        # GeneralizedRCNN's RPN trained the ignore boxes as persons in silence; ProposalNetwork failed at evaluation.
        # Named before the feature checks below: a Detectron2 RetinaNet config was told about MODEL.RPN.IN_FEATURES
        raise config_error("MODEL.META_ARCHITECTURE", cfg.MODEL.META_ARCHITECTURE, "must be PedestrianRCNN (or a "
                           "subclass): pedet's mapper passes the ignore boxes as gt_classes -1, and only it keeps them "
                           "out of the RPN and ROI matchers")
    # a Faster R-CNN is built once; its backbone gives the levels (the backbone is built alone only if the model fails)
    built = build_meta_model(cfg) if arch is not None and issubclass(arch, GeneralizedRCNN) else None
    if cfg.MODEL.BACKBONE.NAME in BACKBONE_REGISTRY:
        outputs = backbone_output_names(cfg, built and built[0])
        check_in_features("MODEL.RPN.IN_FEATURES", cfg.MODEL.RPN.IN_FEATURES, outputs)
        check_in_features("MODEL.ROI_HEADS.IN_FEATURES", cfg.MODEL.ROI_HEADS.IN_FEATURES, outputs)
    if cfg.INPUT.IGNORE_MODE == "exclude_bg" and cfg.MODEL.META_ARCHITECTURE == "PedestrianRCNN":
        from detectron2.modeling import PROPOSAL_GENERATOR_REGISTRY, ROI_HEADS_REGISTRY

        from .roi_heads import RepLossROIHeads
        from .rpn import PedestrianRPN

        for key, registry, base in (("MODEL.ROI_HEADS.NAME", ROI_HEADS_REGISTRY, RepLossROIHeads),
                                    ("MODEL.PROPOSAL_GENERATOR.NAME", PROPOSAL_GENERATOR_REGISTRY, PedestrianRPN)):
            name = cfg.MODEL[key.split(".")[1]].NAME
            if name not in registry or not issubclass(registry.get(name), base):
                raise config_error(key, name, f"INPUT.IGNORE_MODE exclude_bg needs {base.__name__} (or a subclass)")
    rep_on = [k for k in ("ALPHA", "BETA") if cfg.MODEL.REPLOSS[k] > 0]
    if rep_on and cfg.MODEL.META_ARCHITECTURE == "PedestrianRCNN":
        # only RepLossROIHeads (and its subclasses) computes RepGT / RepBox: e.g. CascadeROIHeads trained a plain
        # Faster R-CNN in silence, with the weights still in the config
        from detectron2.modeling import ROI_HEADS_REGISTRY

        from .roi_heads import RepLossROIHeads

        name = cfg.MODEL.ROI_HEADS.NAME
        if name in ROI_HEADS_REGISTRY and not issubclass(ROI_HEADS_REGISTRY.get(name), RepLossROIHeads):
            raise config_error("MODEL.ROI_HEADS.NAME", name, f"MODEL.REPLOSS.{rep_on[0]} "
                               f"{cfg.MODEL.REPLOSS[rep_on[0]]} needs RepLossROIHeads (or a subclass): only it "
                               "computes RepGT and RepBox (set MODEL.REPLOSS.ALPHA and BETA to 0 for plain "
                               f"Faster R-CNN with {name})")
    if built is not None:  # what remains: parts Detectron2 refuses to combine
        check_model_builds(cfg, built)
