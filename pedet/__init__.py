"""
pedet: the shared library of the crowd pedestrian detection toolkit (data sets, miss-rate evaluation, layers).

Importing pedet also makes Detectron2 v0.6 import with a current Pillow: v0.6 uses ``Image.LINEAR`` as a default
argument, which Pillow >= 10 removed; we alias it to ``Image.BILINEAR`` (the same filter) if it is missing.
"""
from PIL import Image as _Image

if not hasattr(_Image, "LINEAR"):
    _Image.LINEAR = _Image.BILINEAR
del _Image

__version__ = "0.1.0"
