"""Moving a live callstream platform from one Kafka cluster to another.

``links`` names the two clusters, ``offsets`` is the exact offset map a replication
direction writes as it goes, ``replicator`` copies topics partition for partition in
transactions on the target, ``receipts`` proves both sides hold the same records,
``positions`` translates consumer groups and the archive, ``cutover`` is the staged
state machine that switches the platform (and runs it backwards for a rollback).
"""
