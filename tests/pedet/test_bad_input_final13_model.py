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
