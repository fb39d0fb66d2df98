"""
The repository's scripts (demo/demo.py, tools/*.py, benchmarks/*.py) as fresh modules for in-process tests, and the
options that shrink the tiny OPL config further for the demo's tests.

``pedet.utils.imports.load_script`` shares one module per process (the scripts' registrations run once); a test that
patches a script's globals needs a module of its own, so that nothing it patched leaks into the next test.
"""
import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPL_TINY = os.path.join(REPO, "projects", "OPL", "configs", "opl_R18_synthetic_cpu.yaml")
TINY_DEMO_OPTS = ["MODEL.FPN.OUT_CHANNELS", "32", "MODEL.OPL.GN_NUM_GROUPS", "8", "MODEL.OPL.NUM_CONVS", "1",
                  "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "96"]


def fresh_script(path: str, name: str):
    """A new module ``name`` executed from the repository file ``path`` (slash-separated, relative to the repo)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, *path.split("/")))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
