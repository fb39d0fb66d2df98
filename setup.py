"""
Installs the shared library ``pedet`` and the two Detectron2 projects ``opl`` (projects/OPL/opl) and
``reploss`` (projects/RepLoss/reploss), so that ``import pedet, opl, reploss`` works after
``pip install -e .``.

Detectron2 itself is not a requirement here on purpose: it is not on PyPI under its own name. Either run
``tools/setup_env.sh`` (builds v0.6 from the ``pb1-detectron2`` sdist) or bring an official build.
"""
from setuptools import find_packages, setup

PROJECTS = {"opl": "projects/OPL", "reploss": "projects/RepLoss"}

packages = find_packages(include=["pedet", "pedet.*"])
package_dir = {}
for name, where in PROJECTS.items():
    for pkg in find_packages(where, include=[name, name + ".*"]):
        packages.append(pkg)
    package_dir[name] = f"{where}/{name}"

setup(
    name="pedet",
    version="0.1.0",
    description="Pedestrian detection in crowds on Detectron2: OPL, Repulsion Loss, miss-rate evaluation",
    python_requires=">=3.10",
    packages=packages,
    package_dir=package_dir,
    install_requires=[
        "numpy>=1.24",
        "scipy",
        "orjson",  # the evaluator reads 50-80 MB detection files: 2-3x faster than json
        "Pillow",
        "opencv-python-headless",
        "pycocotools",
        "matplotlib",
        "fvcore",
        "tensorboard",
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist", "hypothesis"],
        "export": ["onnx", "onnxruntime", "onnxscript"],
    },
)
