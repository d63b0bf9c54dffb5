"""Lag-driven scaling: processors keep no partition data (their state is rebuilt from
changelogs), so compute can grow and shrink during a burst by adding or removing members
of a processor's consumer group. ``policy`` decides, ``members`` hands a leaving static
member's partitions over at once, ``pool`` starts and stops instances, ``controller`` ties
them to a lag source."""
