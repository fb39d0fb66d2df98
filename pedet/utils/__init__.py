"""
pedet.utils: small helpers every other pedet package may use (like detectron2.utils); nothing here imports torch.

- ``file_io``: the one writer of every file pedet produces (atomic, fsync'd, ordinary permissions, stale temporary
  files of an interrupted save removed).
"""
