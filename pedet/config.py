"""
add_pedet_config(cfg): the config keys that both projects (OPL, RepLoss) and pedet's data pipeline read.

Call it right after get_cfg(), before the project's own add_*_config (STYLE §a, train_net.py setup()).
"""
# What a model does with the ignore boxes it receives as gt_classes == -1 (METHODS §3.1, PedestrianDatasetMapper).
IGNORE_MODES = ("drop", "exclude_bg")


def add_pedet_config(cfg) -> None:
    """Add pedet's keys to a detectron2 CfgNode in place."""
    # How training uses the ignore boxes (CrowdHuman tag "mask" / extra.ignore, CityPersons non-pedestrian labels,
    # Caltech "people"/"ignore", TJU-Ped ignore flag). The mapper always passes them as gt_classes == -1; every model
    # splits them off (pedet.data.mapper.split_ignore_instances) before matching, then:
    #   "drop":       ignore them: they are neither positives nor excluded from the negatives.
    #                 CHOICE C1, METHODS §3.1: matches the DeFCN CrowdHuman numbers and detectron2's handling of
    #                 iscrowd boxes.
    #   "exclude_bg": also remove from the background / focal negatives what lies in an ignore box: for R-CNN, proposals
    #                 with IoA(proposal, ignore) > 0.5 and IoU(valid GT) < 0.5 (CrowdDet-like, PEER [R18]); for a
    #                 dense head, locations inside an ignore box that are not positives.
    # One of IGNORE_MODES.
    cfg.INPUT.IGNORE_MODE = "drop"
