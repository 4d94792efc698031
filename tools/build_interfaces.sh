#!/usr/bin/env bash
# Build msg/ with rosidl against the ROS 2 wheels in the project venv (no ROS install needed).
# Usage: tools/build_interfaces.sh VENV BUILD_DIR INSTALL_DIR
set -euo pipefail
venv=$(cd "$1" && pwd); build=$2; install=$3
mkdir -p "$build"
root=$(cd "$(dirname "$0")/.." && pwd)
py="$venv/bin/python"
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# The wheels' CMake exports name include dirs of the machine that built them
# (/opt/python/cp311-cp311/...); CMake's generate step fails until those paths resolve.
# Point them at this venv's Python headers and numpy's (a symlink, only where writable).
ensure_link() {
  local target=$1 link=$2
  [ -e "$link" ] && return 0
  mkdir -p "$(dirname "$link")" 2>/dev/null && ln -s "$target" "$link" 2>/dev/null && return 0
  echo "cannot create $link (needed by the ROS wheels' CMake exports); run once as root: ln -s $target $link" >&2
  return 1
}
py_include=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_include=$("$py" -c 'import numpy; print(numpy.get_include())')
ensure_link "$py_include" /opt/python/cp311-cp311/include/python3.11
ensure_link "$np_include" /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include

export AMENT_PREFIX_PATH="$venv"
export CMAKE_PREFIX_PATH="$venv"
export PATH="$venv/bin:$PATH"
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
# Configure from a staged copy: CMake refuses exported include dirs (the venv's numpy) that lie
# inside the source tree, and the venv lives in the repository.
src="$build/src"
rm -rf "$src" && mkdir -p "$src" && cp -r "$root/CMakeLists.txt" "$root/package.xml" "$root/msg" "$src/"
cmake -S "$src" -B "$build/cmake" -DWBT_INTERFACES_ONLY=ON -DCMAKE_INSTALL_PREFIX="$install" \
  -DPython3_EXECUTABLE="$py" -DPYTHON_EXECUTABLE="$py" -DBUILD_TESTING=OFF \
  -DCMAKE_BUILD_TYPE=Release -Wno-dev > "$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }
cmake --build "$build/cmake" -j2 >> "$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }
cmake --install "$build/cmake" >> "$build.log" 2>&1 || { tail -40 "$build.log"; exit 1; }
echo "interfaces installed in $install"
