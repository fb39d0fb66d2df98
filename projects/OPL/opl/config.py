"""
Config keys of OPL ("Optimal Proposal Learning for Deployable End-to-End Pedestrian Detection", CVPR 2023).

Every key of docs/methods.md §1.8 lives under ``cfg.MODEL.OPL``. Origins: PAPER = stated in the OPL paper, PEER = what
DeFCN's CrowdHuman config / cvpods do (OPL says it reuses DeFCN's assignment), CHOICE = ours (docs/methods.md §1.9).
"""
from detectron2.config import CfgNode as CN


def add_opl_config(cfg: CN) -> None:
    """Adds ``cfg.MODEL.OPL`` with the paper defaults (in place), after pedet's own keys
    (pedet.config.add_pedet_config) if they are not there yet. Keys outside MODEL.OPL are left to the yaml files."""
    from pedet.config import add_pedet_config

    add_pedet_config(cfg)  # pedet's keys first, if not there yet
    _C = cfg
    _C.MODEL.OPL = CN()

    # --- head structure ---
    # K, number of foreground classes (person only). PAPER (pedestrian detection)
    _C.MODEL.OPL.NUM_CLASSES = 1
    # FPN levels the head runs on, finest first; strides 8..128. PEER (FCOS/DeFCN P3-P7)
    _C.MODEL.OPL.IN_FEATURES = ["p3", "p4", "p5", "p6", "p7"]
    # Input of the FPN top block that makes P6/P7: "p5" (cvpods BLOCK_IN_FEATURES) or "res5" (d2 RetinaNet). PEER
    _C.MODEL.OPL.TOP_BLOCK_IN_FEATURE = "p5"
    # Convs in each of the cls and reg sub-nets (Sec. 3: "4 convs"). PAPER
    _C.MODEL.OPL.NUM_CONVS = 4
    # Norm of the head towers, C2F upper convs: "GN" or "" (none). PEER (FCOS/DeFCN use GN)
    _C.MODEL.OPL.NORM = "GN"
    # Groups of every GroupNorm in the head and CPN (32 in the paper setting; lower it for tiny channel counts). PEER
    _C.MODEL.OPL.GN_NUM_GROUPS = 32
    # pi of the focal-loss prior bias -log((1-pi)/pi) on every score-producing conv. PEER (RetinaNet/DeFCN)
    _C.MODEL.OPL.PRIOR_PROB = 0.01
    # Learnable per-level scalar on the regression output (init 1.0). CHOICE (DeFCN has it; d2 FCOS drops it)
    _C.MODEL.OPL.USE_SCALE = True
    # Initial bias of the box regression conv, in strides (ltrb = ReLU(Scale * delta) * stride). 0 = FCOS/DeFCN's
    # init. With 0 about half of the locations start on the dead side of the ReLU, and on short CPU schedules a whole
    # FPN level can end there for good (its boxes stay at zero size; the crowd benchmark saw it in an FCOS seed);
    # the CPU benchmark regime starts at 1 (boxes of two strides). CHOICE
    _C.MODEL.OPL.BBOX_PRED_BIAS = 0.0

    # --- one-to-one assignment (POTO) for L_cls(S) and L_reg, Eq. (3) ---
    # alpha of the quality Q = p^(1-alpha) * IoU^alpha. PEER (DeFCN CrowdHuman POTO_ALPHA 0.8)
    _C.MODEL.OPL.POTO_ALPHA = 0.8
    # Spatial prior: 0 = location centre inside the GT box; r > 0 also within r*stride of the GT centre. PEER (DeFCN CH)
    _C.MODEL.OPL.CENTER_SAMPLING_RADIUS = 0.0
    # "hungarian" (scipy linear_sum_assignment, reduced matrix, docs/methods.md §1.3) or "argmax". PEER (DeFCN both)
    _C.MODEL.OPL.POTO_MATCHER = "hungarian"
    # Drop a match whose location lies outside the spatial prior (DeFCN keeps it). CHOICE A10
    _C.MODEL.OPL.DROP_OUT_OF_BOX_MATCH = True
    # Assignment of the final score S: "poto" (OPL/DeFCN, one-to-one) or "fcos" (FCOS one-to-many: centre sampling
    # radius 1.5, FPN scale ranges, smallest GT wins; only for the FCOS-with-NMS baseline). CHOICE
    _C.MODEL.OPL.MAIN_ASSIGNER = "poto"
    # Centre-sampling radius (in strides) used by MAIN_ASSIGNER "fcos". PEER (FCOS/d2 FCOS 1.5)
    _C.MODEL.OPL.FCOS_CENTER_SAMPLING_RADIUS = 1.5
    # FCOS's centre-ness branch, only with MAIN_ASSIGNER "fcos" (the FCOS-with-NMS baseline): a 3x3 conv on the reg
    # sub-net, BCE on the positives against sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)), test score
    # sqrt(S * sigmoid(ctr)). PEER (FCOS; detectron2's FCOS, whose head and loss this equals)
    _C.MODEL.OPL.CENTERNESS = False

    # --- Coarse-to-Fine classifier (C2F), Eq. (4)-(5) ---
    # M_i of each C2F block (n = len); M_{i-1} > M_i; [] = no C2F (one final conv as in FCOS). PAPER (Table 6: {16, 4})
    _C.MODEL.OPL.C2F_M = [16, 4]
    # One-to-M_i rule: "topm" (top-M_i by quality inside the box), "defcn_aux" (DeFCN aux, mean+std threshold with
    # topk = M_i per level) or "hungarian_m" (GT repeated M_i times, Hungarian; slow). CHOICE A1
    _C.MODEL.OPL.C2F_ASSIGNER = "topm"
    # Restrict block i+1's candidates to block i's positives of the same GT. CHOICE A2 (default no)
    _C.MODEL.OPL.C2F_NESTED = False
    # Weight of each L_i (Eq. 5 sums them with weight 1). PAPER
    _C.MODEL.OPL.C2F_WEIGHT = 1.0

    # --- Completed Proposal Network (CPN), Eq. (6)-(9) ---
    # Switch of the whole CPN; off -> S = S_cls. PAPER (Table 5 rows)
    _C.MODEL.OPL.CPN_ON = True
    # Flows summed before GN in Eq. (9): any non-empty subset of F1, F2, F3. PAPER (Table 7)
    _C.MODEL.OPL.CPN_FLOWS = ["F1", "F2", "F3"]
    # Kernel of the two 2C->2C CPN convs (Eq. 7, Eq. 8); 1 is the cheap option. CHOICE A8
    _C.MODEL.OPL.CPN_CONV_KERNEL = 3
    # f_cls: "subnet" (output h0 of the 4-conv cls sub-net) or "last_block" (last C2F upper feature). CHOICE A5
    _C.MODEL.OPL.CPN_CLS_FEATURE = "subnet"
    # Neg() of Eq. (8): "neg" (-x), "one_minus_sigmoid" (1 - sigmoid(x)) or "exp_neg" (exp(-x)). CHOICE A6
    _C.MODEL.OPL.CPN_NEG = "neg"
    # Spatial kernel of the 3-D max pool in MSFE. PEER (DeFCN FILTER_KERNEL_SIZE 3)
    _C.MODEL.OPL.MSFE_KERNEL = 3
    # Adjacent levels on each side that MSFE pools over (DeFCN FILTER_TAU / 2). PEER
    _C.MODEL.OPL.MSFE_LEVEL_RADIUS = 1

    # --- DeFCN reproduction mode ---
    # Replace CPN by DeFCN's 3DMF filter on f_reg (conv -> MSFE -> +input -> GN -> ReLU -> conv 3x3 -> 1). PEER
    _C.MODEL.OPL.FILTER_3DMF = False
    # DeFCN's auxiliary one-to-many focal loss on the final cls logits (loss_aux). PEER
    _C.MODEL.OPL.AUX_ONE_TO_MANY = False
    # Per-level top-k candidates of the DeFCN aux rule. PEER (DeFCN CrowdHuman AUX_TOPK 9)
    _C.MODEL.OPL.AUX_TOPK = 9
    # Weight of loss_aux. PEER (DeFCN 1.0)
    _C.MODEL.OPL.AUX_WEIGHT = 1.0

    # --- losses, Eq. (3) ---
    # alpha of the focal losses (L_cls on S, L_i on logits, aux). PEER (DeFCN/RetinaNet 0.25)
    _C.MODEL.OPL.FOCAL_ALPHA = 0.25
    # gamma of the focal losses. PEER (2.0)
    _C.MODEL.OPL.FOCAL_GAMMA = 2.0
    # The "IoU loss" of L_reg: "giou" only. CHOICE A9 (PEER DeFCN IOU_LOSS_TYPE giou)
    _C.MODEL.OPL.REG_LOSS = "giou"
    # Weight of L_reg. CHOICE A9 (PEER DeFCN REG_WEIGHT 2.0)
    _C.MODEL.OPL.REG_WEIGHT = 2.0

    # --- RepGT / RepBox on the one-to-one positives: an extension, in neither paper (docs/methods.md §2.9) ---
    # Origins here: REPLOSS = the Repulsion Loss paper (Wang et al., CVPR 2018) default, docs/methods.md §2.8 / §2.11.
    # Switch: add loss_rep_gt (Eq. 4) and loss_rep_box (Eq. 6) on the POTO positives. CHOICE (§2.9; off = plain OPL)
    _C.MODEL.OPL.REPLOSS_ON = False
    # alpha, weight of loss_rep_gt (sum of Smooth_ln(IoG) / max(1, N_pos^o2o), the loss_reg normaliser). REPLOSS
    _C.MODEL.OPL.REP_GT_WEIGHT = 0.5
    # beta, weight of loss_rep_box (mean over overlapping pairs of positives, per image). REPLOSS
    _C.MODEL.OPL.REP_BOX_WEIGHT = 0.5
    # sigma of Smooth_ln in RepGT (1.0 = -ln(1 - IoG), realised as 1 - REP_SIGMA_EPS). REPLOSS (CHOICE B1)
    _C.MODEL.OPL.REP_GT_SIGMA = 1.0
    # sigma of Smooth_ln in RepBox (0 = the IoU itself). REPLOSS
    _C.MODEL.OPL.REP_BOX_SIGMA = 0.0
    # Gap kept between the effective sigma and 1 (finite value and gradient at IoG = 1). CHOICE B1
    _C.MODEL.OPL.REP_SIGMA_EPS = 1e-3
    # G_Rep is skipped when IoU(G_Attr, G_Rep) >= this (a near-duplicate GT would fight L_reg). CHOICE B6
    _C.MODEL.OPL.REP_GT_DUP_IOU = 0.95
    # RepBox uses at most this many random positives per image (0 = all; POTO gives <= G, so O(G^2)). CHOICE (§2.7)
    _C.MODEL.OPL.REP_BOX_MAX_PER_IMAGE = 0
    # A positive enters both repulsion terms only when its detached predicted box has IoU >= this with its target, in
    # [0, 1]: the paper's P+ are proposals with IoU >= 0.5 (Faster R-CNN foreground). 0 = every positive, which kills
    # a randomly initialised box regression (projects/OPL/README.md). REPLOSS (P+ of Eq. 4), CHOICE (the box as P)
    _C.MODEL.OPL.REP_POS_IOU = 0.5

    # --- inference (no NMS), docs/methods.md §1.6 ---
    # Keep scores S above this. PEER (cvpods/DeFCN 0.05)
    _C.MODEL.OPL.SCORE_THRESH_TEST = 0.05
    # Candidates kept per level before merging levels. PEER (cvpods/DeFCN 1000)
    _C.MODEL.OPL.TOPK_CANDIDATES_TEST = 1000
    # NMS switch, only for ablations and the FCOS-with-NMS baseline; OPL itself is NMS-free. CHOICE (an explicit switch,
    # never a magic threshold value)
    _C.MODEL.OPL.NMS_ON = False
    # IoU threshold of the NMS; read only when NMS_ON. PEER (FCOS 0.6)
    _C.MODEL.OPL.NMS_THRESH_TEST = 0.6


def _as_lists(value):
    """A config value with every tuple, at any depth, as a list (yacs may keep a default and an override apart)."""
    return [_as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def check_opl_config(cfg: CN) -> None:
    """
    ``MODEL.OPL`` values that would crash deep inside the model (a traceback without the key) or silently train
    nonsense (a negative loss weight or focal gamma, an empty C2F block, NUM_CONVS < 0 taken as 0) -> one-line
    ``pedet.config.ConfigError`` naming the key. train_net.setup() calls it after pedet.config.check_config.
    """
    from detectron2.modeling import BACKBONE_REGISTRY

    from pedet.config import (backbone_output_names, build_meta_model, check_in_features, check_model_builds,
                              check_numbers, check_rules, config_error, number_in, one_of,
                              single_value_map_size)

    o = cfg.MODEL.OPL
    unit, non_negative = number_in(0.0, 1.0), number_in(0.0)
    odd_kernel = (lambda k: isinstance(k, int) and k >= 1 and k % 2 == 1), "an odd kernel size >= 1"
    check_rules(o, "MODEL.OPL", {
        "NUM_CLASSES": number_in(1), "NUM_CONVS": number_in(0), "NORM": one_of("GN", ""),
        "GN_NUM_GROUPS": number_in(1), "PRIOR_PROB": number_in(0.0, 1.0, low_open=True, high_open=True),
        "TOP_BLOCK_IN_FEATURE": one_of("p5", "res5"), "POTO_ALPHA": unit, "CENTER_SAMPLING_RADIUS": non_negative,
        "POTO_MATCHER": one_of("hungarian", "argmax"), "MAIN_ASSIGNER": one_of("poto", "fcos"),
        "FCOS_CENTER_SAMPLING_RADIUS": non_negative, "C2F_ASSIGNER": one_of("topm", "defcn_aux", "hungarian_m"),
        "C2F_WEIGHT": non_negative, "CPN_CONV_KERNEL": odd_kernel, "CPN_CLS_FEATURE": one_of("subnet", "last_block"),
        "CPN_NEG": one_of("neg", "one_minus_sigmoid", "exp_neg"), "MSFE_KERNEL": odd_kernel,
        "MSFE_LEVEL_RADIUS": number_in(0), "AUX_TOPK": number_in(1), "AUX_WEIGHT": non_negative,
        "FOCAL_ALPHA": ((lambda a: a == -1 or unit[0](a)), "in [0, 1] (or -1: no alpha weighting)"),
        "FOCAL_GAMMA": non_negative, "REG_LOSS": one_of("giou"), "REG_WEIGHT": non_negative,
        "REP_GT_WEIGHT": non_negative, "REP_BOX_WEIGHT": non_negative, "REP_GT_SIGMA": unit, "REP_BOX_SIGMA": unit,
        "REP_SIGMA_EPS": number_in(0.0, 1.0, low_open=True, high_open=True),
        "REP_GT_DUP_IOU": number_in(0.0, 1.0, low_open=True), "REP_BOX_MAX_PER_IMAGE": number_in(0),
        "REP_POS_IOU": unit, "SCORE_THRESH_TEST": unit, "TOPK_CANDIDATES_TEST": number_in(1),
        "NMS_THRESH_TEST": unit, "BBOX_PRED_BIAS": number_in(),
    })
    from detectron2.modeling import META_ARCH_REGISTRY

    from .meta_arch import OPL

    arch = cfg.MODEL.META_ARCHITECTURE  # e.g. RetinaNet: trained on pedet's data without the MODEL.OPL keys, in silence
    if arch in META_ARCH_REGISTRY and not issubclass(META_ARCH_REGISTRY.get(arch), OPL):
        raise config_error("MODEL.META_ARCHITECTURE", arch, "must be OPL (or a subclass): this project's model; "
                           "Detectron2's detectors do not split off the ignore boxes that pedet's mapper passes as "
                           "gt_classes -1")
    for key in ("MASK_ON", "KEYPOINT_ON"):  # accepted and ignored in silence (the RepLoss project refused them)
        if cfg.MODEL[key]:
            raise config_error(f"MODEL.{key}", True, "the pedestrian data sets have no masks or keypoints, and OPL "
                                                     "predicts boxes only")
    features = list(o.IN_FEATURES)
    levels = ("p2", "p3", "p4", "p5", "p6", "p7")
    if not features or any(f not in levels for f in features):
        raise config_error("MODEL.OPL.IN_FEATURES", features, "must be FPN levels among p2 ... p7 (e.g. p3 ... p7)")
    order = [levels.index(f) for f in features]
    if len(set(order)) == len(order) and order != sorted(order):  # (a level given twice is named further down)
        # the locations are concatenated in this order; MSFE pools over neighbours in it and the FCOS assigner
        # opens the size ranges of its first and last level: another order trains something else, silently
        raise config_error("MODEL.OPL.IN_FEATURES", features, "must list the levels finest first (e.g. p3 ... p7)")
    check_numbers(cfg, ["MODEL.OPL.C2F_M"])
    if any(m < 1 for m in o.C2F_M):
        raise config_error("MODEL.OPL.C2F_M", list(o.C2F_M), "every M_i must be >= 1 ([] = no C2F)")
    if any(b >= a for a, b in zip(o.C2F_M, o.C2F_M[1:])):  # coarse to fine: each block keeps fewer positives per GT
        raise config_error("MODEL.OPL.C2F_M", list(o.C2F_M), "must decrease from block to block (M_i-1 > M_i, "
                                                              "e.g. [16, 4])")
    flows = list(o.CPN_FLOWS)
    if o.CPN_ON and (not flows or any(f not in ("F1", "F2", "F3") for f in flows)):
        raise config_error("MODEL.OPL.CPN_FLOWS", flows, "must be a non-empty subset of F1, F2, F3")
    if o.CENTERNESS and o.MAIN_ASSIGNER != "fcos":
        raise config_error("MODEL.OPL.CENTERNESS", o.CENTERNESS,
                           f"is FCOS's branch and needs MODEL.OPL.MAIN_ASSIGNER 'fcos' (got {o.MAIN_ASSIGNER!r})")
    if o.CPN_ON and o.FILTER_3DMF:
        raise config_error("MODEL.OPL.FILTER_3DMF", o.FILTER_3DMF, "excludes MODEL.OPL.CPN_ON (the DeFCN mode)")
    channels = cfg.MODEL.FPN.OUT_CHANNELS
    if channels % o.GN_NUM_GROUPS:
        raise config_error("MODEL.OPL.GN_NUM_GROUPS", o.GN_NUM_GROUPS,
                           f"must divide the head's channels (MODEL.FPN.OUT_CHANNELS = {channels})")
    stride = 2 ** int(features[-1][1:])  # the coarsest level: a 1 x 1 map for an image (padded) no larger than this
    normed = (o.NORM == "GN" and o.NUM_CONVS > 0) or o.FILTER_3DMF  # the head's GroupNorms over C channels
    splits = ["TEST"] + (["TRAIN"] if cfg.SOLVER.IMS_PER_BATCH == 1 else [])  # every test image; training at batch 1
    single = [found for found in (single_value_map_size(cfg, s, stride) for s in splits) if found]
    if normed and channels == o.GN_NUM_GROUPS and single:
        # one channel per group on that 1 x 1 map normalises a single value: PyTorch's GroupNorm stops the run with
        # "Expected more than 1 value per channel when training" (also in eval), a traceback that names no key
        key, size = single[0]
        which = "an image of at most" if key.startswith("MAX") else "a square image resized to"
        raise config_error("MODEL.OPL.GN_NUM_GROUPS", o.GN_NUM_GROUPS,
                           f"one channel per group (MODEL.FPN.OUT_CHANNELS {channels}) leaves a single value to "
                           f"normalise on the 1 x 1 {features[-1]} map (stride {stride}) of {which} "
                           f"{size} px (INPUT.{key}), which PyTorch's GroupNorm refuses; use fewer groups or larger "
                           "images")
    if cfg.TEST.AUG.ENABLED:
        raise config_error("TEST.AUG.ENABLED", True, "test-time augmentation is not implemented for OPL")
    from detectron2.config import get_cfg

    # OPL reads its own MODEL.OPL keys; a Detectron2 user's habit (RetinaNet's keys for a dense detector, or
    # ROI_HEADS.SCORE_THRESH_TEST for DefaultPredictor) had no effect, in silence: a changed value names the OPL key
    d2 = get_cfg().MODEL
    same = {"FOCAL_LOSS_GAMMA": "FOCAL_GAMMA", "FOCAL_LOSS_ALPHA": "FOCAL_ALPHA"}
    changed = [(f"RETINANET.{k}", v, same.get(k, k)) for k, v in sorted(cfg.MODEL.RETINANET.items())
               if k in d2.RETINANET and _as_lists(v) != _as_lists(d2.RETINANET[k])]
    changed += [(f"ROI_HEADS.{k}", cfg.MODEL.ROI_HEADS[k], k) for k in ("SCORE_THRESH_TEST", "NMS_THRESH_TEST")
                if cfg.MODEL.ROI_HEADS[k] != d2.ROI_HEADS[k]]
    # likewise RetinaNet's anchors (or an FCOS port's OFFSET): OPL is anchor-free, its locations fixed at the cell
    # centres (docs/methods.md §1.2), so a changed MODEL.ANCHOR_GENERATOR key moved nothing (OFFSET 0.5, what OPL
    # does, passes); compared as lists, since yacs turns only the outer tuple of "((32, 64, 128, 256, 512),)" into a
    # list: Detectron2's own default written with tuples was refused
    changed += [(f"ANCHOR_GENERATOR.{k}", v, None) for k, v in sorted(cfg.MODEL.ANCHOR_GENERATOR.items())
                if k in d2.ANCHOR_GENERATOR and _as_lists(v) != _as_lists(d2.ANCHOR_GENERATOR[k])
                and (k, v) != ("OFFSET", 0.5)]
    for key, value, own in changed[:1]:
        hint = f"; set MODEL.OPL.{own}" if own in o else ""
        if own is None:
            hint = ("; OPL is anchor-free: one location per feature cell, at the cell's centre (offset 0.5), with the "
                    "levels of MODEL.OPL.IN_FEATURES")
        raise config_error(f"MODEL.{key}", value, f"OPL does not read it (its model's keys are MODEL.OPL.*){hint}")
    if cfg.MODEL.BACKBONE.NAME in BACKBONE_REGISTRY:  # the levels this backbone gives, each once
        built = build_meta_model(cfg)  # once; its backbone gives the levels (built alone only if the model fails)
        check_in_features("MODEL.OPL.IN_FEATURES", features, backbone_output_names(cfg, built[0]))
        check_model_builds(cfg, built)  # what remains: values the model's constructors refuse
