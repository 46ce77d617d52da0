#!/usr/bin/env bash
# Compiles the plain-Java core (src/main), its JVM harness (src/host) and the JUnit 5 suite
# (src/test, and src/hostTest for the harness, which Gradle does not build) with javac, then runs
# the suite with the JUnit console launcher. No Gradle or Maven repository needed: Gson and JUnit
# come from Debian's packages (installed here when missing and running as root).
#
#   run-tests.sh                 compile everything and run the tests (exit code = the launcher's)
#   run-tests.sh --compile-only  compile main + host; the last stdout line is the class folder
#                                (run HostBenchmark with: java -cp FOLDER:/usr/share/java/gson.jar ...)
#
# Environment, passed to the tests as system properties:
#   GOLDEN_DIRS      colon-separated folders with vocab.txt, manifest.json, tokenizer_golden.json
#                    (-> golden.dirs; tests/test_android_core.py writes them)
#   RESULTS_VECTORS  JSON file of statistics computed with numpy / scikit-learn (-> results.vectors)
set -euo pipefail

CORE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$CORE/build"
GSON=/usr/share/java/gson.jar
JUNIT=/usr/share/java/junit-platform-console-standalone.jar

compile_only=false
case "${1:-}" in
  --compile-only) compile_only=true ;;
  "") ;;
  *) echo "usage: run-tests.sh [--compile-only]" >&2; exit 2 ;;
esac

# Installs Debian packages when we may (root with apt-get); otherwise says what is missing.
install_or_fail() {
  local what="$1"; shift
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "run-tests.sh: installing $*" >&2
    apt-get install -y --no-install-recommends "$@" >&2 \
      || { apt-get update >&2 && apt-get install -y --no-install-recommends "$@" >&2; }
  else
    echo "run-tests.sh: $what is missing: install it (apt-get install $*) and run again" >&2
    exit 1
  fi
}

command -v javac >/dev/null 2>&1 || install_or_fail "javac (a JDK 17)" default-jdk-headless
command -v java >/dev/null 2>&1 || install_or_fail "java" default-jdk-headless
command -v javac >/dev/null 2>&1 || { echo "run-tests.sh: javac still missing after installing" >&2; exit 1; }
[ -f "$GSON" ] || install_or_fail "$GSON (Gson)" libgoogle-gson-java
if [ "$compile_only" = false ] && [ ! -f "$JUNIT" ]; then
  install_or_fail "$JUNIT (JUnit 5 console launcher)" junit5
fi

mkdir -p "$BUILD/classes"

# Lists .java files under the given folders, one per line, sorted.
java_files() { find "$@" -name '*.java' | LC_ALL=C sort; }

# A digest of the listed files' names and contents (sha256sum on Linux, shasum on macOS).
digest() {
  local files; files="$(cat)"
  { printf '%s\n' "$files"; while IFS= read -r f; do cat "$f"; done <<< "$files"; } \
    | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-16
}

# Compiles the listed sources into a fresh folder; javac reads them from an @argfile (no word
# splitting of paths with spaces).
compile() {
  local out="$1" classpath="$2"
  local list="$out.sources"
  sed 's/.*/"&"/' > "$list"
  javac --release 17 -encoding UTF-8 -Xlint:all -Werror -cp "$classpath" -d "$out" "@$list" >&2
}

# main + host go to one folder named after their digest: that folder plus gson.jar runs
# HostBenchmark, and a run never deletes classes another run (a Python test, say) is using.
MAIN_CLASSES="$BUILD/classes/main-$(java_files "$CORE/src/main/java" "$CORE/src/host/java" | digest)"
if [ ! -d "$MAIN_CLASSES" ]; then
  staging="$(mktemp -d "$BUILD/classes/.main.XXXXXX")"
  java_files "$CORE/src/main/java" "$CORE/src/host/java" | compile "$staging" "$GSON" \
    || { rm -rf "$staging" "$staging.sources"; exit 1; }
  rm -f "$staging.sources"
  chmod 755 "$staging"
  mv "$staging" "$MAIN_CLASSES" 2>/dev/null || rm -rf "$staging"  # another run got there first
fi
# Classes of earlier sources: kept an hour for runs that may still use them, then removed.
find "$BUILD/classes" -maxdepth 1 -name 'main-*' ! -path "$MAIN_CLASSES" -mmin +60 -exec rm -rf {} + 2>/dev/null || true

if [ "$compile_only" = true ]; then
  echo "$MAIN_CLASSES"
  exit 0
fi

TEST_CLASSES="$(mktemp -d "$BUILD/classes/.test.XXXXXX")"
trap 'rm -rf "$TEST_CLASSES" "$TEST_CLASSES.sources"' EXIT
java_files "$CORE/src/test/java" "$CORE/src/hostTest/java" | compile "$TEST_CLASSES" "$MAIN_CLASSES:$GSON:$JUNIT"

properties=()
[ -n "${GOLDEN_DIRS:-}" ] && properties+=("-Dgolden.dirs=$GOLDEN_DIRS")
[ -n "${RESULTS_VECTORS:-}" ] && properties+=("-Dresults.vectors=$RESULTS_VECTORS")

status=0
java ${properties[@]+"${properties[@]}"} -jar "$JUNIT" \
  --class-path "$TEST_CLASSES:$MAIN_CLASSES:$GSON" \
  --scan-class-path "$TEST_CLASSES" \
  --fail-if-no-tests --disable-banner --disable-ansi-colors --details=tree \
  --reports-dir "$BUILD/test-reports" || status=$?
exit "$status"
