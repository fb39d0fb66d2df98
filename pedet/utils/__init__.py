"""
pedet.utils: small helpers every other pedet package may use (like detectron2.utils); nothing here imports torch.

- ``json_text``: shortened reprs for one-line errors and the one rule against a JSON key named twice (shared by
  the loaders and the evaluator).
- ``file_io``: the one writer of every file pedet produces (atomic, fsync'd, ordinary permissions, stale temporary
  files of an interrupted save removed).
- ``imports``: a hook run right after a module's import (data-set registration without importing torch early), and
  ``load_script``, the one loader of the repository's scripts that are not in a package (benchmarks, train_net.py).
- ``cli``: argument checks of those scripts (argparse types for ranges, output file and folder names).
"""
