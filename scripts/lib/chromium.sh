# Debian's Chromium, for the tests that drive a real headless browser against labbook
# serve (its sign-in and dashboard). Installed once; its packages are kept in the cache so
# a later fresh machine installs without downloading them again.
# Sourced by scripts/test.sh; exports LABBOOK_CHROMIUM.
if ! command -v chromium >/dev/null 2>&1; then
    apt_cache="$CACHE/apt"
    mkdir -p "$apt_cache/partial"
    export DEBIAN_FRONTEND=noninteractive
    sudo_=""
    if [ "$(id -u)" != 0 ]; then sudo_="sudo"; fi
    $sudo_ apt-get update -qq >/dev/null
    $sudo_ apt-get install -y -qq -o Dir::Cache::archives="$apt_cache" chromium >/dev/null
fi
export LABBOOK_CHROMIUM="${LABBOOK_CHROMIUM:-$(command -v chromium)}"
