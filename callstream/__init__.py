"""callstream: Kafka-native call-center intelligence."""

__version__ = "0.1.0"

import warnings as _warnings

# A dependency of the Kafka/Iceberg clients warns about its own httpx shim on import;
# it is not actionable for callstream users and would open every command's output.
_warnings.filterwarnings("ignore", message="The httpx module is deprecated")
