"""callstream: Kafka-native call-center intelligence."""

__version__ = "0.1.0"

import warnings as _warnings

# A dependency of the Kafka/Iceberg clients (authlib) warns about its own httpx shim on
# import, after forcing its warnings to "always"; it is not actionable for callstream users
# and would open every command's output. Load its filter first, then put ours in front.
try:
    import authlib.deprecate  # noqa: F401
except ImportError:
    pass
_warnings.filterwarnings("ignore", message="The httpx module is deprecated")
