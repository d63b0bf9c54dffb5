"""The event contract: typed events, the topic catalog, serialization and schema compatibility."""
