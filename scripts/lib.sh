# Shared by the scripts in this folder: installs missing Debian packages
# and finds the Swift toolchain. Sourced, not run.

packages="libsecret-1-dev libsodium-dev libcurl4-openssl-dev gnome-keyring
libsecret-tools dbus-daemon libglib2.0-bin pkg-config openssl python3"

say() { printf '==> %s\n' "$*" >&2; }

ensure_packages() {
  local missing=()
  for package in $packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$package")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  say "installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

ensure_swift() {
  if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
  fi
  if ! command -v swift >/dev/null 2>&1; then
    echo "error: no Swift toolchain on PATH (expected swift 6 or later)" >&2
    exit 1
  fi
}

# Runs a command with SwiftPM's harmless "-pthread" notice filtered out,
# keeping the command's own exit status.
quiet_swift() {
  local status=0
  "$@" 2>&1 | grep -v "prohibited flag" >&2 || status=${PIPESTATUS[0]}
  return "$status"
}

# Starts the stand-in Manage server (a test fixture) in the background on
# 127.0.0.1 with the configuration file $2, keeping its state in $1.
# Sets standin_pid, standin_port and standin_ca. The server runs while
# descriptor 9 (a FIFO on its standard input) stays open.
start_standin() {
  local dir="$1" config="$2"
  mkfifo "$dir/keepalive"
  python3 Tests/StandIn/manage_standin.py --state-dir "$dir/standin" --config "$config" \
    <"$dir/keepalive" >"$dir/standin.out" 2>"$dir/standin.log" &
  standin_pid=$!
  exec 9>"$dir/keepalive"
  for _ in $(seq 100); do
    [ -s "$dir/standin.out" ] && break
    sleep 0.1
  done
  standin_port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' \
    "$dir/standin.out")"
  standin_ca="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca"])' \
    "$dir/standin.out")"
}
