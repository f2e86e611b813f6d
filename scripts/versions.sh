# Versions and names shared by scripts/setup.sh and scripts/services.sh.
# The Python client in requirements.txt must have the same major version as
# ES_VERSION; 9.1.3 is the newest 9.x integ-test zip that Maven Central served
# when this was pinned (9.2.1 was not found there).
ES_VERSION="${ES_VERSION:-9.1.3}"
ES_ARTIFACT="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip"
ES_USER="${ES_USER:-shopsearch-es}"

# Elasticsearch 9 needs Java 21 or newer; take the newest JDK under /usr/lib/jvm.
es_java_home() {
  if [[ -n ${ES_JAVA_HOME:-} ]]; then echo "$ES_JAVA_HOME"; return; fi
  local jdk best="" best_major=0 major
  for jdk in /usr/lib/jvm/*/; do
    [[ -x $jdk/bin/java ]] || continue
    major=$("$jdk/bin/java" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
    if [[ ${major:-0} =~ ^[0-9]+$ ]] && ((major > best_major)); then best=${jdk%/}; best_major=$major; fi
  done
  if ((best_major < 21)); then
    echo "no JDK 21 or newer under /usr/lib/jvm; set ES_JAVA_HOME" >&2
    return 1
  fi
  echo "$best"
}
