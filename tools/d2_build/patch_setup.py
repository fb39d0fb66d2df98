"""
Patch the setup.py of the PyPI sdist ``pb1-detectron2==0.6`` (official Detectron2 v0.6 Python code without
its C++ sources) so that it builds a pure-Python ``py3-none-any`` wheel.

What changes, and why (docs/install.md §1 and §5):
  * no C++ extension and no ``import torch`` at build time (the sources are not in the sdist);
  * the model-zoo configs are packaged (the original glob looks for a top-level configs/ that the sdist lacks);
  * the upstream example scripts are not installed as a top-level package named ``tools``;
  * the ``black==21.4b2`` pin is dropped (only ``LazyConfig.to_py()`` imports black).
Each pattern must match exactly once, so a different sdist fails loudly instead of building something else.

Usage: python patch_setup.py SDIST_DIR
"""
import os
import re
import sys

SETUP_SUBS = [
    (r"^import torch\n", ""),
    (r"^from torch\.utils\.cpp_extension import .*\n", ""),
    (r"^torch_ver = .*\n", ""),
    (r"^assert torch_ver .*\n", ""),
    (r"^    ext_modules=get_extensions\(\),\n", ""),
    (r"^    cmdclass=\{\"build_ext\": torch\.utils\.cpp_extension\.BuildExtension\},\n", ""),
    (r'^        "black==21\.4b2",\n', ""),
    (
        r'^    package_data=\{"detectron2.model_zoo": get_model_zoo_configs\(\)\},\n',
        '    package_data={"detectron2.model_zoo": ["configs/**/*.yaml", "configs/**/*.py"]},\n',
    ),
    (
        r'find_packages\(exclude=\("configs", "tests\*"\)\)',
        'find_packages(exclude=("configs", "tests*", "tools", "tools.*"))',
    ),
]

# Pillow >= 10 removed Image.LINEAR, which v0.6 uses as a default argument at import time
# (detectron2/data/transforms/transform.py). Alias it once, in the package's __init__, so every
# subpackage imports with a current (security-fixed) Pillow.
PILLOW_ALIAS = '''
# Added by pedet's pure-Python build: Pillow >= 10 removed Image.LINEAR (an alias of BILINEAR),
# which detectron2 v0.6 still uses as a default argument in data/transforms/transform.py.
from PIL import Image as _PILImage

if not hasattr(_PILImage, "LINEAR"):
    _PILImage.LINEAR = _PILImage.BILINEAR
del _PILImage
'''


def patch(sdist_dir: str) -> None:
    path = os.path.join(sdist_dir, "setup.py")
    with open(path) as f:
        s = f.read()
    for pat, rep in SETUP_SUBS:
        s, n = re.subn(pat, rep, s, flags=re.M)
        if n != 1:
            raise SystemExit(f"patch_setup: pattern {pat!r} matched {n} times in {path}, expected 1")
    with open(path, "w") as f:
        f.write(s)

    init = os.path.join(sdist_dir, "detectron2", "__init__.py")
    with open(init) as f:
        s = f.read()
    if "_PILImage" not in s:
        with open(init, "a") as f:
            f.write(PILLOW_ALIAS)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    patch(sys.argv[1])
