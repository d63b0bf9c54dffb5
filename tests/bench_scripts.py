"""The benchmarks are scripts under bench/, not a package: tests load them by path."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_bench(name: str) -> Iterator[ModuleType]:
    """``bench/<name>.py`` as a module, for a module-scoped fixture to yield (the benchmarks
    import their harness as a sibling module, so bench/ is on the path meanwhile)."""
    module_name = f"bench_{name}"
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(module_name, BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(module_name, None)
        sys.path.remove(str(BENCH))
