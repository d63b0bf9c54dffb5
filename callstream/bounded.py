"""Caches keyed by contact, bounded by count.

A process that seals or opens restricted fields keeps, per contact, a data key and a cipher
(2.7 KB each for `cryptography`'s AES-GCM, its OpenSSL context included: 50,000 of them
took 136 MB). Contacts come and go at the rate calls start, so such a cache meets its
bound after an hour or so at a few hundred calls a minute and then stays there: the bound
is what it costs (NOTES.md, stop 51: the simulator's process grew ~3 KB per contact until
it).
"""

from __future__ import annotations

import itertools
from collections.abc import Container
from typing import Any

#: contacts whose keys and ciphers a process keeps: twice the 10,000 live calls of the
#: headroom target (like `processors.state_cache.CACHED_CALLS`)
RECENT_CONTACTS = 20_000


def forget_oldest(entries: dict[Any, Any], limit: int | None = None, spare: Container[Any] = ()) -> None:
    """Past ``limit`` entries (``RECENT_CONTACTS`` by default), drop the first inserted down
    to 90% of it, passing over keys in ``spare``: a tenth at a time, so a full cache neither
    scans on every insert nor empties at once (emptying made every live call's next event
    miss together)."""
    limit = RECENT_CONTACTS if limit is None else limit
    if len(entries) <= limit:
        return
    oldest = (key for key in entries if key not in spare)
    for key in list(itertools.islice(oldest, len(entries) - int(limit * 0.9))):
        del entries[key]
