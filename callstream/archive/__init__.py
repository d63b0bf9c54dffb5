"""History in object storage: the exactly-once archiver, retention, replay."""
