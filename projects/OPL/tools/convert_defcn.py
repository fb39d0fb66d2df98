#!/usr/bin/env python
"""
Convert a DeFCN checkpoint (cvpods format: ``{"model": state_dict, "optimizer": ..., "iteration": ...}``, keys
possibly prefixed by ``module.``) into the state dict of our OPL model in DeFCN mode, checked against the model that
the matching config builds: any DeFCN key left unmapped, any model key missing and any shape mismatch is an error.

Key mapping (everything not listed keeps its name; only these names are accepted):
    backbone.bottom_up.{stem,res2..res5}.*      -> same (cvpods' ResNet and detectron2's share the names and FrozenBN
                                                   buffers; cvpods' DEEP_STEM has no detectron2 equivalent: refused)
    backbone.fpn_{lateral,output}{3,4,5}.*       -> same
    backbone.top_block.p6/p7.*                   -> same (DeFCN's CrowdHuman models compute P6 from P5; a P6 conv on
                                                   C5 is refused unless MODEL.OPL.TOP_BLOCK_IN_FEATURE is "res5")
    head.{cls,bbox}_subnet.{0..}.*               -> same ([conv, GN, ReLU] x NUM_CONVS in both)
    head.cls_score.*                             -> head.cls_scores.0.*
    head.bbox_pred.*                             -> same
    head.max3d.conv.* / head.max3d.norm.*        -> head.filter.conv.* / head.filter.norm.*  (3DMF, conv and GN)
    head.filter.*                                -> head.filter.out_conv.*                  (3DMF, last conv 3x3 -> 1)
    head.scales.{l}.scale  shape [1]             -> head.scales.{l}.scale  shape []

The config defaults to ``configs/defcn_poto_3dmf_aux_R_50_crowdhuman.yaml`` when the checkpoint holds a 3DMF branch
and ``configs/defcn_poto_R_50_crowdhuman.yaml`` otherwise; pass ``--config-file`` (and config options after it)
for other depths or widths. The output is a ``.pth`` that ``MODEL.WEIGHTS`` loads weights-only:

    python projects/OPL/tools/convert_defcn.py model_final.pth defcn_poto_3dmf_aux_crowdhuman.pth
    python projects/OPL/train_net.py --eval-only --num-gpus 8 \\
        --config-file projects/OPL/configs/defcn_poto_3dmf_aux_R_50_crowdhuman.yaml \\
        MODEL.WEIGHTS defcn_poto_3dmf_aux_crowdhuman.pth
"""
import argparse
import os
import re
import sys
from typing import Dict, List, Optional

from torch import Tensor

_PROJECT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, _PROJECT_DIR)  # the opl package, as for train_net.py
_CONFIG_DIR = os.path.join(_PROJECT_DIR, "configs")
DEFAULT_CONFIGS = {
    True: os.path.join(_CONFIG_DIR, "defcn_poto_3dmf_aux_R_50_crowdhuman.yaml"),
    False: os.path.join(_CONFIG_DIR, "defcn_poto_R_50_crowdhuman.yaml"),
}

# (pattern on the DeFCN key, replacement): the first full match wins; a key that matches none is an error.
_RENAMES = [
    (r"backbone\.bottom_up\.stem\.conv1\.(weight|norm\.(weight|bias|running_mean|running_var))", r"\g<0>"),
    (r"backbone\.bottom_up\.res[2-5]\.\d+\.(conv[1-3]|shortcut)\.(weight|norm\.(weight|bias|running_mean|running_var))",
     r"\g<0>"),
    (r"backbone\.fpn_(lateral|output)\d\.(weight|bias|norm\.(weight|bias))", r"\g<0>"),
    (r"backbone\.top_block\.p[67]\.(weight|bias)", r"\g<0>"),
    (r"head\.(cls|bbox)_subnet\.\d+\.(weight|bias)", r"\g<0>"),
    (r"head\.cls_score\.(weight|bias)", r"head.cls_scores.0.\1"),
    (r"head\.bbox_pred\.(weight|bias)", r"\g<0>"),
    (r"head\.max3d\.(conv|norm)\.(weight|bias)", r"head.filter.\1.\2"),
    (r"head\.filter\.(weight|bias)", r"head.filter.out_conv.\1"),
    (r"head\.scales\.\d+\.scale", r"\g<0>"),
]


def strip_module_prefix(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Removes the ``module.`` that DistributedDataParallel puts in front of every key (all keys or none)."""
    prefixed = [k.startswith("module.") for k in state_dict]
    if any(prefixed) and not all(prefixed):
        raise ValueError("Some keys start with 'module.' and others do not: not a single model's state dict")
    return {k[len("module."):]: v for k, v in state_dict.items()} if all(prefixed) else dict(state_dict)


def defcn_to_opl(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """
    Renames DeFCN's keys to OPL's (table in the module docstring) and reshapes the per-level scales [1] -> [].

    Args:
        state_dict: the ``"model"`` entry of a cvpods checkpoint, with or without ``module.`` prefixes.
    Returns:
        a new dict of tensors under OPL's names.
    Raises:
        KeyError listing every key that no rule accepts (e.g. cvpods' deep stem, a centre-ness branch).
    """
    out, unknown = {}, []
    for key, value in strip_module_prefix(state_dict).items():
        for pattern, repl in _RENAMES:
            if re.fullmatch(pattern, key):
                new_key = re.sub(pattern, repl, key)
                break
        else:
            unknown.append(key)
            continue
        if new_key.endswith(".scale"):
            if value.numel() != 1:
                raise ValueError(f"{key}: a per-level scale must hold one value, got shape {tuple(value.shape)}")
            value = value.reshape(())
        out[new_key] = value.detach().cpu()
    if unknown:
        opl_names = [k for k in unknown if k.startswith("head.cls_scores.")]  # OPL's name of DeFCN's head.cls_score
        if opl_names:  # e.g. a train_net.py model_final.pth or this tool's own output: was the bare list of keys
            raise KeyError(f"already an OPL state dict, not a DeFCN one (it has {opl_names[0]}, DeFCN's is "
                           "head.cls_score): give it to MODEL.WEIGHTS as it is")
        raise KeyError(f"{len(unknown)} DeFCN keys have no OPL equivalent: {unknown}")
    return out


def check_against_model(converted: Dict[str, Tensor], model_state: Dict[str, Tensor]) -> None:
    """
    Raises ValueError unless ``converted`` has exactly the keys of ``model_state``, with the same shapes.

    The messages name the likely config mismatch (3DMF branch, P6 input, depth, channels).
    """
    errors: List[str] = []
    missing = sorted(set(model_state) - set(converted))
    extra = sorted(set(converted) - set(model_state))
    if missing:
        errors.append(f"model keys missing from the checkpoint ({len(missing)}): {missing}")
    if extra:
        errors.append(f"checkpoint keys the model does not have ({len(extra)}): {extra}")
    for k in sorted(set(converted) & set(model_state)):
        if converted[k].shape != model_state[k].shape:
            errors.append(f"{k}: checkpoint {tuple(converted[k].shape)} vs model {tuple(model_state[k].shape)}")
    p6 = "backbone.top_block.p6.weight"
    if p6 in converted and p6 in model_state and converted[p6].shape != model_state[p6].shape:
        source = "P5" if converted[p6].shape[1] == converted[p6].shape[0] else "C5"
        errors.append(f"{p6}: this checkpoint computes P6 from {source}; MODEL.OPL.TOP_BLOCK_IN_FEATURE must be "
                      f"{'p5' if source == 'P5' else 'res5'} and MODEL.FPN.OUT_CHANNELS {converted[p6].shape[0]}")
    if any(k.startswith("head.filter.") for k in missing + extra):
        errors.append("the 3DMF branch (head.max3d / head.filter) is in one of them only: check MODEL.OPL.FILTER_3DMF")
    if errors:
        raise ValueError("The converted DeFCN checkpoint does not fit the config:\n  " + "\n  ".join(errors))


def build_opl_cfg(config_file: str, opts: Optional[List[str]] = None):
    """get_cfg + pedet and OPL keys + ``config_file`` + ``opts``, on CPU without any weights (for the check only)."""
    import opl  # noqa: F401  (registers the OPL meta-architecture and backbone)
    from detectron2.config import get_cfg
    from pedet.config import add_pedet_config, merge_config

    cfg = get_cfg()
    add_pedet_config(cfg)
    opl.add_opl_config(cfg)
    merge_config(cfg, config_file, list(opts or []))  # yacs errors as one line (ConfigError), as train_net.py
    cfg.merge_from_list(["MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu"])
    return cfg


def convert_checkpoint(checkpoint: Dict, config_file: Optional[str] = None,
                       opts: Optional[List[str]] = None) -> Dict[str, Tensor]:
    """
    A loaded cvpods checkpoint -> OPL state dict, checked against the model of ``config_file`` (+ ``opts``).

    Args:
        checkpoint: ``{"model": state_dict, ...}`` or a bare state dict.
        config_file: an OPL yaml; None = the DeFCN config chosen by the presence of the 3DMF branch.
    """
    from detectron2.modeling import build_model

    state = checkpoint["model"] if "model" in checkpoint else checkpoint
    converted = defcn_to_opl(state)
    if config_file is None:
        config_file = DEFAULT_CONFIGS[any(k.startswith("head.filter.") for k in converted)]
    model = build_model(build_opl_cfg(config_file, opts))
    check_against_model(converted, model.state_dict())
    return converted


class ConversionError(ValueError):
    """A checkpoint this command cannot convert (named with what is wrong): one line on stderr, exit status 1."""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="DeFCN/cvpods checkpoint (.pth), e.g. model_final.pth")
    ap.add_argument("output", help="output .pth for MODEL.WEIGHTS")
    ap.add_argument("--config-file", default=None, help="OPL config the weights must fit (default: by 3DMF branch)")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="allow a full unpickle if the checkpoint holds non-tensor objects (runs code from the file)")
    ap.add_argument("opts", nargs="*", help="config options merged after the config file (KEY VALUE ...)")
    args = ap.parse_intermixed_args(argv)

    from pedet.engine import atomic_torch_save, load_checkpoint_file

    checkpoint = load_checkpoint_file(args.input, trust_pickle=args.trust_pickle)
    if not isinstance(checkpoint, dict):
        raise ConversionError(f"{args.input}: holds a {type(checkpoint).__name__}, not a checkpoint dict")
    try:
        converted = convert_checkpoint(checkpoint, args.config_file, args.opts)
    except (KeyError, ValueError) as e:  # unmapped keys, a model that does not fit the config: were tracebacks
        raise ConversionError(f"{args.input}: {e.args[0] if e.args else type(e).__name__}") from e
    meta = {"__author__": "DeFCN (cvpods), converted by projects/OPL/tools/convert_defcn.py"}
    if "iteration" in checkpoint:
        meta["defcn_iteration"] = int(checkpoint["iteration"])
    atomic_torch_save({"model": converted, **meta}, args.output)  # atomic, fsync'd, the umask's permissions
    print(f"wrote {args.output}: {len(converted)} tensors")


if __name__ == "__main__":
    from pedet.engine.launch import one_line_errors

    with one_line_errors(ConversionError):  # a missing / unreadable input, a checkpoint that does not fit
        main()
