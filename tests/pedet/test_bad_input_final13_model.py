"""
Thirteenth deciding bad-input trial, model side (issue 11): what it found. Cases that fit an earlier table are there
(tests/pedet/test_config_cross_product.py holds the cross-project config checks).
"""
import pytest

from pedet.config import ConfigError, merge_config

from .test_config_cross_product import REPO, project_cfg

OPL_TINY = f"{REPO}/projects/OPL/configs/opl_R18_synthetic_cpu.yaml"
REPLOSS_TINY = f"{REPO}/projects/RepLoss/configs/tiny/reploss_R_18_FPN_synthetic_tiny.yaml"


@pytest.mark.parametrize("project, base, group, typo", [("OPL", OPL_TINY, "OPL", "POTO_ALPA"),
                                                        ("RepLoss", REPLOSS_TINY, "REPLOSS", "SIGMA_G")])
def test_misspelt_key_in_the_projects_own_group_is_not_called_the_other_projects_config(tmp_path, project, base,
                                                                                        group, typo):
    """A typo inside MODEL.OPL of a config run with projects/OPL/train_net.py got the hint 'an OPL config (MODEL.OPL);
    run it with projects/OPL/train_net.py ...': the script it was run with, and no word that the key is misspelt."""
    config = tmp_path / "typo.yaml"
    config.write_text(f"_BASE_: {base}\nMODEL:\n  {group}:\n    {typo}: 0.5\n")
    cfg, _ = project_cfg(project)
    with pytest.raises(ConfigError) as e:
        merge_config(cfg, str(config), [])
    assert e.value.code == f"error: config file {config}: Non-existent config key: MODEL.{group}.{typo}"


def _demo_cfg(config_file, opts):
    import argparse

    from ..scripts import fresh_script

    demo = fresh_script("demo/demo.py", "final13_trial_demo")
    return demo.setup_cfg(argparse.Namespace(config_file=config_file, opts=opts))


def _export_cfg(config_file, opts):
    from ..scripts import fresh_script

    return fresh_script("tools/export.py", "final13_trial_export").setup_cfg(config_file, opts)


@pytest.mark.parametrize("setup, who", [(_demo_cfg, "the demo"), (_export_cfg, "the export")])
@pytest.mark.parametrize("config, opts, key, value, arch, read, unread", [
    # a Faster R-CNN user's threshold given as OPL's key (equal to its default too), and the converse
    (REPLOSS_TINY, ["MODEL.OPL.SCORE_THRESH_TEST", "0.5"], "MODEL.OPL.SCORE_THRESH_TEST", 0.5, "PedestrianRCNN",
     "MODEL.REPLOSS", "MODEL.OPL"),
    (REPLOSS_TINY, ["MODEL.OPL.SCORE_THRESH_TEST", "0.05"], "MODEL.OPL.SCORE_THRESH_TEST", 0.05, "PedestrianRCNN",
     "MODEL.REPLOSS", "MODEL.OPL"),
    (OPL_TINY, ["MODEL.REPLOSS.SIGMA_GT", "0.5"], "MODEL.REPLOSS.SIGMA_GT", 0.5, "OPL", "MODEL.OPL",
     "MODEL.REPLOSS"),
])
def test_demo_and_export_refuse_the_other_projects_keys(setup, who, config, opts, key, value, arch, read, unread):
    """The demo and the export add both projects' config groups so that either config loads; an override of the
    group the model does not read (MODEL.OPL.SCORE_THRESH_TEST on a RepLoss model) was accepted and had no effect,
    in silence, while train_net.py refuses it as an unknown key."""
    from pedet.config import ConfigError

    with pytest.raises(ConfigError) as e:
        setup(config, ["MODEL.DEVICE", "cpu", *opts])
    assert e.value.code == (f"error: config: {key} {value!r}: {who} runs this config's {arch} model, which reads "
                            f"{read}, not {unread} (the other project's keys): the value would have no effect")


@pytest.mark.parametrize("setup", [_demo_cfg, _export_cfg])
def test_demo_and_export_refuse_the_other_projects_keys_in_a_config_file(tmp_path, setup):
    from pedet.config import ConfigError

    config = tmp_path / "mixed.yaml"
    config.write_text(f"_BASE_: {REPLOSS_TINY}\nMODEL:\n  OPL:\n    TOPK_CANDIDATES_TEST: 100\n")
    with pytest.raises(ConfigError) as e:
        setup(str(config), ["MODEL.DEVICE", "cpu"])
    assert e.value.code.startswith("error: config: MODEL.OPL.TOPK_CANDIDATES_TEST 100: ")


@pytest.mark.parametrize("setup", [_demo_cfg, _export_cfg])
@pytest.mark.parametrize("config, opts, key, value", [
    (REPLOSS_TINY, ["MODEL.REPLOSS.SIGMA_GT", "0.5", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.5"],
     "MODEL.ROI_HEADS.SCORE_THRESH_TEST", 0.5),
    (OPL_TINY, ["MODEL.OPL.SCORE_THRESH_TEST", "0.5"], "MODEL.OPL.SCORE_THRESH_TEST", 0.5)])
def test_demo_and_export_take_their_models_own_keys(setup, config, opts, key, value):
    cfg = setup(config, ["MODEL.DEVICE", "cpu", *opts])
    node = cfg
    for part in key.split("."):
        node = node[part]
    assert node == value
