"""What callstream starts on this machine, tracked by PID: the local Apache Kafka (KRaft)
and the S3 test server from Maven Central jars, and its own child processes."""
