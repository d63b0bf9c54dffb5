"""Guards for the libraries whose private API callstream uses.

Two of callstream's dependencies offer no public way to do what it needs:

* pyiceberg: compaction splits its rows by partition with
  ``pyiceberg.io.pyarrow._determine_partitions`` and writes the files itself (the public
  ``Table.overwrite`` would commit, compaction must commit its own files together with the
  archiver's offsets, and pyiceberg's writer has no per-column encodings).
* Quix Streams: client errors are counted by chaining onto each client's ``_user_error_cb``
  (Quix builds its clients with its own ``error_cb`` and has no option to pass one), and
  non-windowed workers produce through the application's ``_producer`` (the one its
  checkpoints flush and its transactions cover): ``to_topic`` takes one key and no headers
  per record, and reaching them through ``set_headers`` cost ~11% of a worker's CPU. Quix's
  TTL write reads a value's old expiry stamp from RocksDB; the per-call state cache knows
  it and hands it over instead (``processors/state_cache.py``).

Each is pinned to a supported range in ``pyproject.toml``; that range is read back from
callstream's installed metadata, so the declared bound and the check cannot disagree.
``require_supported`` fails with a clear error naming the range before the private name is
touched; ``tests/test_dependencies.py`` breaks when the private API itself changes.
"""

from __future__ import annotations

import importlib.metadata

from packaging.requirements import Requirement
from packaging.version import Version

from callstream.errors import ConfigError, DependencyError

#: distributions whose private functions callstream calls, and what it calls
PRIVATE_API = {
    "pyiceberg": "pyiceberg.io.pyarrow._determine_partitions",
    "quixstreams": "the _user_error_cb of Quix's Kafka clients, Application._producer and the RocksDB "
                   "transaction's _delete_stale_index_entry",
}


def supported_range(distribution: str) -> str:
    """The version range of ``distribution`` that callstream declares, e.g. ``<0.13,>=0.9``."""
    for line in importlib.metadata.requires("callstream") or []:
        requirement = Requirement(line)
        if requirement.name.lower() == distribution and not requirement.marker:
            return str(requirement.specifier)
    raise ConfigError(f"callstream's metadata declares no requirement on {distribution}",
                      hint="reinstall callstream (make setup)")


def require_supported(distribution: str) -> None:
    """Raise ``DependencyError`` unless the installed ``distribution`` is in callstream's range."""
    installed = importlib.metadata.version(distribution)
    wanted = supported_range(distribution)
    if not Requirement(f"{distribution}{wanted}").specifier.contains(Version(installed), prereleases=True):
        raise DependencyError(
            f"{distribution} {installed} is installed, but callstream supports {distribution}{wanted} "
            f"(it uses {PRIVATE_API[distribution]}, which other versions may lack)",
            hint="install the locked versions with `make setup` (requirements.lock), "
            f"or `pip install '{distribution}{wanted}'`",
        )
