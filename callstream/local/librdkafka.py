"""callstream's own librdkafka for C tools such as kcat.

Debian 13's kcat links the system librdkafka 2.0.2, whose SCRAM exchange Apache Kafka 4.x
refuses ("invalid credentials": librdkafka sent the client nonce twice until 2.6.1, and
Kafka 4 checks it strictly). confluent-kafka's wheel bundles a current librdkafka with the
same ABI; a directory holding a ``librdkafka.so.1`` link to it, put on ``LD_LIBRARY_PATH``,
makes such a tool speak SCRAM as callstream does.
"""

from __future__ import annotations

from pathlib import Path

import confluent_kafka

from callstream.local.maven import cache_root


def bundled_librdkafka() -> Path | None:
    """The librdkafka shared library inside the installed confluent-kafka wheel, if any."""
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    return found[0] if found else None


def tool_library_dir() -> Path | None:
    """A directory for ``LD_LIBRARY_PATH`` whose ``librdkafka.so.1`` is callstream's librdkafka."""
    library = bundled_librdkafka()
    if library is None:
        return None
    directory = cache_root() / f"librdkafka-{confluent_kafka.libversion()[0]}"
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / "librdkafka.so.1"
    if not link.is_symlink() or link.resolve() != library:
        link.unlink(missing_ok=True)
        link.symlink_to(library)
    return directory
