"""Every OPL config (paper recipes, data set variants, each ablation row, the tiny CPU config) trains a step."""
import glob
import os

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from .tiny import CONFIG_DIR, image_batch, tiny_cfg

CONFIGS = sorted(
    os.path.relpath(p, CONFIG_DIR)
    for p in glob.glob(os.path.join(CONFIG_DIR, "*.yaml")) + glob.glob(os.path.join(CONFIG_DIR, "ablations", "*.yaml"))
)


def test_every_table_row_has_a_config():
    names = {os.path.basename(c) for c in CONFIGS}
    rows = {"table5_baseline.yaml", "table5_c2f.yaml", "table5_cpn.yaml", "table5_c2f_cpn.yaml",
            "table7_cpn_none.yaml", "table7_cpn_f1.yaml", "table7_cpn_f1_f2.yaml", "table7_cpn_f1_f2_f3.yaml",
            "fcos_nms_baseline.yaml", "defcn_poto_3dmf_aux_R_50_crowdhuman_30k.yaml", "opl_R18_synthetic_cpu.yaml"}
    rows |= {f"table6_c2f_m_{m}.yaml" for m in ["4", "9", "16", "16_9", "9_4", "16_4", "16_9_4"]}
    assert rows <= names, rows - names


def test_base_config_holds_the_paper_values():
    cfg = tiny_cfg()
    o = cfg.MODEL.OPL
    assert (o.C2F_M, o.CPN_ON, o.CPN_FLOWS, o.POTO_ALPHA, o.NMS_ON) == ([16, 4], True, ["F1", "F2", "F3"], 0.8, False)
    assert (cfg.MODEL.META_ARCHITECTURE, cfg.TEST.DETECTIONS_PER_IMAGE) == ("OPL", 500)


@pytest.mark.parametrize("config_file", CONFIGS)
def test_config_builds_and_runs_a_training_step(config_file):
    cfg = tiny_cfg(config_file)
    model = build_model(cfg)
    model.train()
    batch = image_batch([([[10, 10, 40, 60], [30, 5, 70, 60]], [0, 0]), (torch.zeros(0, 4), [])])
    with EventStorage():
        losses = model(batch)
    expected = {"loss_cls_o2o", "loss_reg"} | {f"loss_c2f_{i}" for i in range(len(cfg.MODEL.OPL.C2F_M))}
    if cfg.MODEL.OPL.AUX_ONE_TO_MANY:
        expected.add("loss_aux")
    if cfg.MODEL.OPL.REPLOSS_ON:
        expected |= {"loss_rep_gt", "loss_rep_box"}
    if cfg.MODEL.OPL.CENTERNESS:
        expected.add("loss_ctr")
    assert set(losses) == expected
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    model.eval()
    with torch.no_grad():
        assert len(model(batch)) == 2
