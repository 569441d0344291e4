#!/usr/bin/env bash
# Installs Keycloak (the server distribution org.keycloak:keycloak-quarkus-dist, the
# version in ./VERSION, from Maven Central) for the end-to-end suite, unpacked and
# pre-built into tests/e2e/.e2e-cache/keycloak-<version>/.
#
# - Java: Debian 12's OpenJDK 17 (openjdk-17-jre-headless, installed when missing).
#   Keycloak 26.7's jars are Java 17 class files and it runs on 17 here; Temurin 25 runs it
#   too, no faster within the noise, but is no Debian 12 package: a fresh machine lacks it.
# - Maven (Debian's maven) fetches the zip; it stays in tests/e2e/.e2e-cache/.
# - `kc.sh build --db=dev-file` runs once (about 22 s on two cores): the Quarkus
#   augmentation that `start-dev` would otherwise redo at every start. The tests then run
#   `kc.sh start --optimized`, each start with a home folder of its own (see keycloak.py),
#   so nothing here is written to by a running server.
#
# Idempotent: when the built distribution is there with this script's stamp, it exits in
# well under a second.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="$(cd "$here/../.." && pwd)/.e2e-cache"
version="$(tr -d '[:space:]' <"$here/VERSION")"
dist="$cache/keycloak-$version"
zip="$cache/keycloak-quarkus-dist-$version.zip"
java_home="${KEYCLOAK_JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}"
build_options="--db=dev-file"
stamp_text="keycloak $version built with $java_home: $build_options"
stamp="$dist/.pkceflow-e2e-built"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ] && [ -x "$java_home/bin/java" ] \
    && [ -x "$dist/bin/kc.sh" ]; then
    echo "keycloak $version already installed ($dist)"
    exit 0
fi

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "$@" >/dev/null; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "$@" >/dev/null
    fi
}

[ -x "$java_home/bin/java" ] || apt_install openjdk-17-jre-headless
command -v mvn >/dev/null 2>&1 || apt_install maven
command -v unzip >/dev/null 2>&1 || apt_install unzip

mkdir -p "$cache"
if [ ! -s "$zip" ]; then
    download="$cache/keycloak-download"
    rm -rf "$download"
    JAVA_HOME="$java_home" mvn -q -B -Dstyle.color=never dependency:copy \
        "-Dartifact=org.keycloak:keycloak-quarkus-dist:$version:zip" \
        "-DoutputDirectory=$download"
    mv "$download/keycloak-quarkus-dist-$version.zip" "$zip"
    rm -rf "$download"
fi

# Unpack and build beside the final folder, then move it in place: an interrupted install
# never leaves a half-built distribution where the tests look.
work="$cache/keycloak-$version.partial"
rm -rf "$work"
mkdir -p "$work"
unzip -q "$zip" -d "$work"
built="$work/keycloak-$version"
log="$work/build.log"
if ! JAVA_HOME="$java_home" JAVA_OPTS_KC_HEAP="-Xms64m -Xmx512m" \
    "$built/bin/kc.sh" build $build_options >"$log" 2>&1; then
    cat "$log" >&2
    echo "kc.sh build failed (log above)" >&2
    exit 1
fi
printf '%s' "$stamp_text" >"$built/.pkceflow-e2e-built"
rm -rf "$dist"
mv "$built" "$dist"
rm -rf "$work"
echo "keycloak $version installed ($dist)"
