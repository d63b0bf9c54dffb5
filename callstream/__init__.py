"""callstream: Kafka-native call-center intelligence."""

__version__ = "0.1.0"
