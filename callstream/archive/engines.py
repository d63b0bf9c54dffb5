"""The archive from other engines: Apache Spark reads callstream's Iceberg tables through
Iceberg's own JDBC catalog on the same catalog database, no copy and no export.

pyiceberg's SQL catalog and Iceberg's Java ``JdbcCatalog`` share one schema (the
``iceberg_tables`` table, "V0" in Java's terms), so Spark's ``SparkCatalog`` with
``catalog-impl=JdbcCatalog`` and the SQLite JDBC driver sees every table callstream's
archiver commits, at its current snapshot. The catalog's name must be callstream's
(``callstream``): it is a column of every catalog row. Jars come from Maven Central like the
broker's. An ``s3://`` warehouse adds Iceberg's AWS bundle; S3 credentials stay in Spark's
environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``), never in its settings.
"""

from __future__ import annotations

from pathlib import Path

from callstream.archive.settings import ArchiveSettings
from callstream.errors import ArchiveError
from callstream.local import maven

#: the catalog name every row of callstream's SQL catalog carries (``Archive.open``)
CATALOG_NAME = "callstream"
ICEBERG_VERSION = "1.12.0"
#: Iceberg's runtime for the Spark release pyspark installs (4.1, Scala 2.13)
SPARK_RUNTIME = maven.Artifact("org.apache.iceberg", "iceberg-spark-runtime-4.1_2.13", ICEBERG_VERSION)
SQLITE_JDBC = maven.Artifact("org.xerial", "sqlite-jdbc", "3.54.1.0")
AWS_BUNDLE = maven.Artifact("org.apache.iceberg", "iceberg-aws-bundle", ICEBERG_VERSION)


def spark_jars(settings: ArchiveSettings) -> list[Path]:
    """The jars Spark needs to read the archive (resolved once into callstream's cache)."""
    artifacts = [SPARK_RUNTIME, SQLITE_JDBC, *([AWS_BUNDLE] if settings.is_s3 else [])]
    name = f"spark-iceberg-{ICEBERG_VERSION}{'-aws' if settings.is_s3 else ''}"
    return sorted((maven.resolve(name, artifacts) / "lib").glob("*.jar"))


def spark_conf(settings: ArchiveSettings) -> dict[str, str]:
    """Spark settings that make ``callstream.<namespace>.<table>`` the archive's tables."""
    catalog_file = settings.sqlite_catalog
    if catalog_file is None:
        raise ArchiveError(f"Spark settings are derived for an SQLite catalog only, not {settings.catalog_uri!r}",
                           "point Spark's Iceberg JDBC catalog (catalog-impl org.apache.iceberg.jdbc.JdbcCatalog) "
                           "at the same database yourself, with the catalog name 'callstream'")
    prefix = f"spark.sql.catalog.{CATALOG_NAME}"
    warehouse = settings.catalog_properties()["warehouse"]
    conf = {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        f"{prefix}.uri": f"jdbc:sqlite:{Path(catalog_file).resolve()}",
        f"{prefix}.warehouse": warehouse,
        # pyiceberg's catalog table has no iceberg_type column (Java's V1 adds it for views)
        f"{prefix}.jdbc.schema-version": "V0",
    }
    if settings.is_s3 and settings.s3 is not None:
        conf |= {f"{prefix}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
                 f"{prefix}.client.region": settings.s3.region,
                 f"{prefix}.s3.path-style-access": str(settings.s3.path_style).lower(),
                 **({f"{prefix}.s3.endpoint": settings.s3.endpoint} if settings.s3.endpoint else {})}
    return conf
