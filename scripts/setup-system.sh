#!/usr/bin/env bash
# Installs the Debian packages callstream needs, only when they are missing:
# a Java 17+ JDK and Maven (the local Kafka broker and S3 server are resolved from Maven Central),
# Chromium (the dashboard's browser tests) and kcat (a foreign client the tests read callstream's
# topics with).
set -euo pipefail

need=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then need+=(openjdk-17-jdk-headless); fi
# javac: the schema registry's build and callstream's Kafka admin helper (kafka/java/) compile Java
command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
command -v kcat >/dev/null || need+=(kcat)
if [ "${CALLSTREAM_BROWSER_TESTS:-1}" = "1" ]; then
  command -v chromium >/dev/null || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
