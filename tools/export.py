#!/usr/bin/env python
"""
Export OPL (NMS-free) to ONNX or TorchScript, and check the exported model against eager PyTorch.

    python tools/export.py --config-file projects/OPL/configs/opl_R18_synthetic_cpu.yaml --format onnx \
        --output output/export/opl_R18.onnx MODEL.WEIGHTS output/opl_R18_synthetic_cpu/model_final.pth
    python tools/export.py --config-file ... --format torchscript --output output/export/opl_R18.ts ...

The graph is ``opl.export.OPLExportModule``: input ``images`` (N, 3, H, W) float32 BGR 0-255, already resized to the
test size (ResizeShortestEdge(MIN_SIZE_TEST, MAX_SIZE_TEST), outside the graph); normalisation and padding to the size
divisibility are inside. Outputs ``boxes`` (N, D, 4), ``scores`` (N, D), ``classes`` (N, D), ``num_detections`` (N,)
with D = TEST.DETECTIONS_PER_IMAGE; empty slots have score 0 (see opl/export.py). ONNX: opset 17 (``--opset``),
dynamic batch, height and width, written by the TorchScript-based exporter (``torch.onnx.export(dynamo=False)``):
the graph is fixed-shape apart from those three axes, which the tracer records from ``Shape`` ops. After writing, the
file is re-run with ONNX Runtime (ONNX) or ``torch.jit.load`` (TorchScript) on an input of another size than the
tracing input, and the maximum difference to eager PyTorch is printed (``--no-verify`` skips this).

Faster R-CNN + RepLoss (a GeneralizedRCNN / PedestrianRCNN config) goes through detectron2's own ``TracingAdapter``.
On v0.6 ``import detectron2.export`` fails (export/api.py imports caffe2), and loading export/flatten.py on its own
fails too (``from .torchscript_patch import ...``: a relative import), so flatten.py is imported as a submodule of a
stand-in package whose __path__ is detectron2/export (``load_tracing_adapter``). With it, tracing
``model.inference(inputs, do_postprocess=False)`` works for TorchScript and ONNX (opset 17, dynamic H, W): input
``image`` (3, H, W) float32 BGR 0-255 resized to the test size, one image per call (no batch axis: the adapter flattens
a list of one dict); outputs ``pred_boxes`` (D, 4) in the input frame, ``pred_classes`` (D,), ``scores`` (D,),
``image_size`` (2,), D data-dependent (NMS and the score threshold stay in the graph). The tracer warns about
data-dependent Python branches in detectron2 (the non-finite box checks in proposal_utils.py / fast_rcnn.py, asserts
in boxes.py / nms.py); they take the same branch for finite inputs. tests/deploy/test_export.py checks ORT vs eager.
"""
import argparse
import importlib.util
import logging
import os
import sys
import time
from typing import Optional

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
for _d in (os.path.join(REPO, "projects", "OPL"), os.path.join(REPO, "projects", "RepLoss")):
    if _d not in sys.path:
        sys.path.append(_d)

import pedet  # noqa: E402,F401  (Pillow alias before any detectron2.data import)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from pedet.utils.cli import override_pairs_problem  # noqa: E402

logger = logging.getLogger("pedet.export")


def build_arg_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    p.add_argument("--output", required=True, help="file to write (.onnx / .ts)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (>= 17, default 17; --format onnx only)")
    p.add_argument("--height", type=int, default=0, help="tracing input height (default INPUT.MIN_SIZE_TEST)")
    p.add_argument("--width", type=int, default=0, help="tracing input width (default = height)")
    p.add_argument("--trust-pickle", action="store_true", help="allow MODEL.WEIGHTS that need a full unpickle")
    p.add_argument("--no-verify", action="store_true", help="skip the ORT / TorchScript vs eager check")
    p.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="config KEY VALUE pairs, e.g. MODEL.WEIGHTS")
    return p


def setup_cfg(config_file: str, opts):
    """get_cfg + pedet, OPL and RepLoss keys (a config of either project loads) + file + opts, on CPU by default."""
    from detectron2.config import get_cfg
    from pedet.config import add_pedet_config, check_unread_project_keys, merge_config

    cfg = get_cfg()
    add_pedet_config(cfg)
    from opl import add_opl_config
    from reploss import add_reploss_config

    add_opl_config(cfg)
    add_reploss_config(cfg)
    defaults = cfg.clone()
    merge_config(cfg, config_file, opts)  # yacs errors as one line (pedet.config)
    check_export_config(cfg)
    check_unread_project_keys(cfg, defaults, opts, "the export")
    cfg.freeze()
    return cfg


def check_export_config(cfg) -> None:
    """The model's config values (pedet.config.check_model_config, the project's check) and what the OPL export
    graph cannot hold: one line naming the key (pedet.config.ConfigError)."""
    from opl.meta_arch import OPL
    from pedet.config import check_meta_architecture, check_model_config, config_error
    from reploss.meta_arch import PedestrianRCNN

    check_model_config(cfg)  # first: an unregistered MODEL.META_ARCHITECTURE is its error
    check_meta_architecture(cfg, (OPL, PedestrianRCNN), "the export")
    if cfg.MODEL.META_ARCHITECTURE != "OPL":
        from reploss.config import check_reploss_config

        return check_reploss_config(cfg)
    from opl.config import check_opl_config

    check_opl_config(cfg)
    o = cfg.MODEL.OPL
    if o.NMS_ON:
        raise config_error("MODEL.OPL.NMS_ON", True, "the NMS ablation cannot be exported (the export is NMS-free)")
    if cfg.TEST.DETECTIONS_PER_IMAGE > len(o.IN_FEATURES) * o.TOPK_CANDIDATES_TEST:
        raise config_error("TEST.DETECTIONS_PER_IMAGE", cfg.TEST.DETECTIONS_PER_IMAGE,
                           f"must be <= {len(o.IN_FEATURES)} levels x MODEL.OPL.TOPK_CANDIDATES_TEST")


def check_args(parser: argparse.ArgumentParser, args) -> None:
    """Bad option values end in parser.error (one line after the usage, exit status 2)."""
    if args.format == "torchscript" and args.opset is not None:  # TorchScript has no opset: it was ignored, silently
        parser.error(f"--opset {args.opset}: applies to --format onnx only (TorchScript has no opset)")
    if args.opset is None:
        args.opset = 17
    if args.format == "onnx" and args.opset < 17:
        parser.error(f"--opset {args.opset}: must be >= 17")
    from torch.onnx import _constants

    max_opset = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", _constants.ONNX_MAX_OPSET)  # dynamo=False
    if args.format == "onnx" and args.opset > max_opset:
        parser.error(f"--opset {args.opset}: this PyTorch's ONNX exporter writes opsets up to {max_opset}")
    if args.height < 0 or args.width < 0:
        parser.error(f"--height {args.height} / --width {args.width}: sizes must be >= 0 (0 = the default)")
    if not args.output.strip():  # os.path.abspath("") is the working directory: the export failed after all its work
        parser.error(f"--output {args.output!r}: must name the file to write (.onnx / .ts)")
    suffix = os.path.splitext(args.output)[1].lower()
    other = {"onnx": (".ts", ".pt", ".pth", ".torchscript"), "torchscript": (".onnx",)}[args.format]
    if suffix in other:  # the file was written in --format under the other format's name, silently
        parser.error(f"--output {args.output}: a {suffix} name for --format {args.format}; give a "
                     f"{'.onnx' if args.format == 'onnx' else '.ts / .pt'} file or --format "
                     f"{'torchscript' if args.format == 'onnx' else 'onnx'}")
    if os.path.isdir(args.output):
        parser.error(f"--output {args.output}: a directory; give the file to write (.onnx / .ts)")
    if os.path.exists(args.output) and os.path.exists(args.config_file) and os.path.samefile(args.output,
                                                                                              args.config_file):
        parser.error(f"--output {args.output}: is the config file; give the file to write (.onnx / .ts)")
    folder = os.path.dirname(os.path.abspath(args.output))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        parser.error(f"--output {args.output}: cannot create {folder} ({e.strerror})")
    if not os.access(folder, os.W_OK):
        parser.error(f"--output {args.output}: {folder} is not writable")
    args.opts = args.opts or []
    for item in args.opts:
        if item.startswith("--"):
            parser.error(f"{item}: options go before the config overrides (KEY VALUE pairs come last)")
    if override_pairs_problem(args.opts):  # an odd count, or LazyConfig's key=value items
        parser.error(override_pairs_problem(args.opts))


def build_and_load(cfg, trust_pickle: bool = False):
    """build_model(cfg) in eval mode with MODEL.WEIGHTS loaded weights-only (PedetCheckpointer)."""
    from detectron2.modeling import build_model
    from pedet.engine import PedetCheckpointer
    from pedet.engine.checkpoint import check_weights

    check_weights(cfg.MODEL.WEIGHTS, "exporting")
    model = build_model(cfg).eval()
    if cfg.MODEL.WEIGHTS:
        PedetCheckpointer(model, trust_pickle=trust_pickle, require_all="exporting").load(cfg.MODEL.WEIGHTS)
    return model


def onnx_metadata(cfg) -> dict:
    """
    What the OPL graph expects of its input but cannot hold as a tensor, stored as ONNX model metadata
    (``metadata_props``): the channel order (INPUT.FORMAT; the graph's normalisation uses the exported PIXEL_MEAN /
    PIXEL_STD in that order) and the test-time resize it was exported for. ``demo/demo.py --onnx`` reads the channel
    order from here, so that a config with another INPUT.FORMAT cannot feed the graph swapped channels.
    """
    return {"pedet.input_format": cfg.INPUT.FORMAT, "pedet.min_size_test": str(cfg.INPUT.MIN_SIZE_TEST),
            "pedet.max_size_test": str(cfg.INPUT.MAX_SIZE_TEST)}


def export_opl_onnx(module: torch.nn.Module, example: torch.Tensor, path: str, opset: int = 17,
                    metadata: Optional[dict] = None) -> None:
    """
    Write the OPL export graph to ``path`` (ONNX, dynamic batch/height/width), atomically, with ``metadata`` (str ->
    str, see ``onnx_metadata``) as the model's metadata_props.
    """
    import io

    import onnx
    from opl.export import OUTPUT_NAMES, dynamic_axes
    from pedet.utils.file_io import atomic_write

    if opset < 17:
        raise ValueError(f"opset {opset} < 17")
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, (example,), buffer, input_names=["images"], output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dynamic_axes(), opset_version=opset, dynamo=False)
    graph = onnx.load_from_string(buffer.getvalue())
    if metadata:
        onnx.helper.set_model_props(graph, {str(k): str(v) for k, v in metadata.items()})
    onnx.checker.check_model(graph)
    atomic_write(path, graph.SerializeToString())


def export_opl_torchscript(module: torch.nn.Module, example: torch.Tensor, path: str) -> torch.jit.ScriptModule:
    """torch.jit.trace of the OPL export graph, saved to ``path`` atomically; returns the traced module."""
    from pedet.engine.io import atomic_open

    with torch.no_grad():
        traced = torch.jit.trace(module, (example,), check_trace=False)
    with atomic_open(path, "wb") as f:
        torch.jit.save(traced, f)
    return traced


def run_onnx(path: str, images: np.ndarray, threads: int = 0) -> list:
    """ONNX Runtime CPU session on ``images`` (N, 3, H, W) float32; returns the four outputs."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return session.run(None, {"images": images})


def max_differences(a: list, b: list) -> dict:
    """Per output name: max |a - b| (both lists of the four outputs)."""
    from opl.export import output_dict

    da, db = output_dict(a), output_dict(b)
    return {k: float(np.abs(da[k].astype(np.float64) - db[k].astype(np.float64)).max()) if da[k].size else 0.0
            for k in da}


def load_tracing_adapter():
    """
    detectron2's TracingAdapter without running detectron2/export/__init__.py (which imports caffe2 on v0.6).

    flatten.py has one relative import (``.torchscript_patch``), so it is imported as a submodule of a stand-in
    package ``_d2_export`` whose __path__ is detectron2/export; ``detectron2.export`` itself is left untouched.
    """
    import types

    import detectron2

    if "_d2_export" not in sys.modules:
        stand_in = types.ModuleType("_d2_export")
        stand_in.__path__ = [os.path.join(detectron2.__path__[0], "export")]
        sys.modules["_d2_export"] = stand_in
    return importlib.import_module("_d2_export.flatten").TracingAdapter


RCNN_OUTPUT_NAMES = ("pred_boxes", "pred_classes", "scores", "image_size")  # TracingAdapter's flattening order


def rcnn_tracing_adapter(model, example: torch.Tensor):
    """
    TracingAdapter around ``model.inference(inputs, do_postprocess=False)`` (boxes in the input frame) for one
    (3, H, W) float image; in eval mode (torch.onnx.export restores the adapter's mode, which must be eval).
    """
    TracingAdapter = load_tracing_adapter()

    def inference(m, inputs):
        return [{"instances": m.inference(inputs, do_postprocess=False)[0]}]

    return TracingAdapter(model, [{"image": example}], inference).eval()


def export_rcnn(model, example: torch.Tensor, path: str, fmt: str = "onnx", opset: int = 17):
    """
    Faster R-CNN (+ RepLoss) through TracingAdapter to ONNX (dynamic H, W) or TorchScript, written atomically.

    Returns:
        the adapter (call it with a (3, H, W) tensor to get the eager outputs in RCNN_OUTPUT_NAMES order).
    """
    from pedet.engine.io import atomic_open

    adapter = rcnn_tracing_adapter(model, example)
    with atomic_open(path, "wb") as f, torch.no_grad():
        if fmt == "onnx":
            torch.onnx.export(adapter, adapter.flattened_inputs, f, input_names=["image"],
                              output_names=list(RCNN_OUTPUT_NAMES), opset_version=opset, dynamo=False,
                              dynamic_axes={"image": {1: "height", 2: "width"}})
        else:
            torch.jit.save(torch.jit.trace(adapter, adapter.flattened_inputs, check_trace=False), f)
    return adapter.eval()


def main(argv=None) -> int:
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    try:
        return _export(parser, args)
    except (MemoryError, RuntimeError) as e:  # torch's CPU allocator raises a RuntimeError
        if not isinstance(e, (MemoryError, torch.OutOfMemoryError)) and "can't allocate memory" not in str(e):
            raise
        parser.error(f"--height {args.height} / --width {args.width}: tracing the model at this size runs out of "
                     "memory; give a smaller tracing input")


def _export(parser: argparse.ArgumentParser, args) -> int:
    """main() after the argument checks: build, load, export, verify."""
    from detectron2.utils.logger import setup_logger

    setup_logger(name="pedet")
    cfg = setup_cfg(args.config_file, args.opts)
    weights = cfg.MODEL.WEIGHTS
    from pedet.config import config_file_inputs
    from pedet.utils.cli import check_not_an_input

    # the export written over the weights or a _BASE_ of the config (was written in silence; the config file itself
    # is refused in check_args)
    check_not_an_input(parser, "--output", args.output, [("MODEL.WEIGHTS", weights)] +
                       config_file_inputs(args.config_file))
    model = build_and_load(cfg, args.trust_pickle)
    h = args.height or cfg.INPUT.MIN_SIZE_TEST
    w = args.width or h
    divisor = getattr(model.backbone, "size_divisibility", 0)
    if min(h, w) < 1 or max(h, w) <= divisor:
        # padded to a single cell at the coarsest stride, a GroupNorm with as many groups as channels (e.g. GN in a
        # 32-channel FPN) fails the trace with "Expected more than 1 value per channel"
        parser.error(f"tracing input {h} x {w} (--height / --width, default INPUT.MIN_SIZE_TEST): both sides must be "
                     f">= 1 and one > {divisor}, the backbone's size divisibility (a single cell at its coarsest stride "
                     "cannot be traced through its normalisation layers)")
    if cfg.MODEL.META_ARCHITECTURE != "OPL":
        from opl.export import export_example_input

        t0 = time.perf_counter()
        adapter = export_rcnn(model, export_example_input(h, w)[0], args.output, args.format, args.opset)
        logger.info(f"Wrote {args.output} ({args.format}, TracingAdapter) in {time.perf_counter() - t0:.1f} s")
        if not args.no_verify:
            check = export_example_input(h + 32, w + 64)[0]
            with torch.no_grad():
                eager = [t.numpy() for t in adapter(check)]
                if args.format == "onnx":
                    import onnxruntime as ort

                    session = ort.InferenceSession(args.output, providers=["CPUExecutionProvider"])
                    exported = session.run(None, {"image": check.numpy()})
                else:
                    exported = [t.numpy() for t in torch.jit.load(args.output)(check)]
            same = all(a.shape == b.shape for a, b in zip(exported, eager))
            diffs = {n: float(np.abs(a.astype(np.float64) - b).max()) if same and a.size else None
                     for n, a, b in zip(RCNN_OUTPUT_NAMES, exported, eager)}
            logger.info(f"{tuple(check.shape)} input: same shapes {same}, max |exported - eager| {diffs}")
        return 0

    from opl.export import OPLExportModule, export_example_input

    module = OPLExportModule(model).eval()
    example = export_example_input(h, w)
    t0 = time.perf_counter()
    if args.format == "onnx":
        export_opl_onnx(module, example, args.output, args.opset, onnx_metadata(cfg))
    else:
        export_opl_torchscript(module, example, args.output)
    logger.info(f"Wrote {args.output} ({args.format}) in {time.perf_counter() - t0:.1f} s")
    if not args.no_verify:
        check = export_example_input(h + 32, w - 32 if w > 160 else w + 64, batch=2)  # another size and batch
        with torch.no_grad():
            eager = module(check)
        if args.format == "onnx":
            exported = run_onnx(args.output, check.numpy())
        else:
            with torch.no_grad():
                exported = torch.jit.load(args.output)(check)
        diffs = max_differences(exported, eager)
        logger.info(f"max |exported - eager| on a {tuple(check.shape)} input: {diffs}")
    return 0


if __name__ == "__main__":
    from pedet.engine.launch import BAD_INPUT_ERRORS, bad_input_message

    from pedet.utils.file_io import describe_os_error

    try:
        sys.exit(main())
    except BAD_INPUT_ERRORS as e:  # bad MODEL.WEIGHTS (or another missing file): one line, no traceback
        sys.exit(f"error: {bad_input_message(e)}")
    except OSError as e:  # the model file cannot be written (a full disk): one line naming it, as the data commands
        if e.filename is None:
            raise
        sys.exit(f"error: {describe_os_error(e)}")
