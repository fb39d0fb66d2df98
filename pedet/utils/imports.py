"""
Import helpers: run a function right after a module is imported (a post-import hook), or at once if it already is;
load a repository script that is not in a package (``load_script``).

``pedet.data`` registers its data sets in Detectron2's ``DatasetCatalog``. Importing Detectron2's data package loads
torch (seconds), which the pure-data commands (``python -m pedet.data.convert``, ``python -m pedet.data.synthetic``)
must not pay for, yet they run inside the ``pedet.data`` package. Any program that can look a data set up has to
import ``detectron2.data`` (that is where ``DatasetCatalog`` lives), so registering at that moment is as good as
registering when ``pedet.data`` is imported, in either import order.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys
import threading
from typing import Callable

__all__ = ["call_after_import", "load_script"]

_LOCK = threading.Lock()


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """A meta-path finder that finds nothing itself: it wraps the loader of one module to call hooks after it ran."""

    def __init__(self, module_name: str):
        self.module_name = module_name
        self.hooks: list[Callable[[], None]] = []

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.module_name:
            return None
        for finder in sys.meta_path:  # the finder that would have found the module without us
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _HookedLoader(spec.loader, self)
        return spec

    def run_hooks(self) -> None:
        with _LOCK:
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            hooks, self.hooks = self.hooks, []
        for hook in hooks:
            hook()


class _HookedLoader(importlib.abc.Loader):
    """Delegates to the real loader; after ``exec_module`` succeeded, runs the finder's hooks."""

    def __init__(self, loader, finder: _PostImportFinder):
        self._loader, self._finder = loader, finder

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._loader  # the module keeps its real loader (get_source, resources, ...)
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._finder.run_hooks()

    def __getattr__(self, name):
        return getattr(self._loader, name)


def call_after_import(module_name: str, hook: Callable[[], None]) -> None:
    """
    Call ``hook()`` once `module_name` is imported: now if it already is, otherwise right after its import finishes.

    An exception in the hook propagates from that import statement (a broken registration is not hidden).
    """
    with _LOCK:
        if module_name not in sys.modules:
            finder = next((f for f in sys.meta_path if isinstance(f, _PostImportFinder)
                           and f.module_name == module_name), None)
            if finder is None:
                finder = _PostImportFinder(module_name)
                sys.meta_path.insert(0, finder)
            finder.hooks.append(hook)
            return
    hook()


def load_script(path: str, name: str | None = None):
    """
    A script of the repository that is not part of a package (``benchmarks/*.py``, ``projects/*/train_net.py``,
    ``projects/OPL/tools/*.py``) as a module, executed once per process and kept in ``sys.modules``.

    Two projects have a file named ``train_net.py`` and ``benchmarks/`` is not a package, so a plain import cannot
    name them; ``importlib.util.spec_from_file_location`` can, and this is the one place that does it, so that every
    caller of the same file shares one module (its registrations and caches run once). ``name`` defaults to one
    derived from the resolved path. A missing file is a ``FileNotFoundError`` naming it.
    """
    path = os.path.realpath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such script")
    if name is None:
        name = "_pedet_script_" + re.sub(r"\W", "_", os.path.splitext(path)[0].lstrip(os.sep))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)  # a failed load is not cached as a half-initialised module
        raise
    return module
