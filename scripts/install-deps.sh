#!/usr/bin/env bash
# Installs what building ksearch needs and is missing; does nothing when all is there.
# The CUDA 13 toolkit (nvcc not needed: NVRTC, cudart, cuBLAS headers and libraries) cannot
# come from Debian's archive; it must already be installed (CUDA_HOME, else /usr/local/cuda).
set -euo pipefail

need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in g++ cmake make libcurl4-openssl-dev libsqlite3-dev nlohmann-json3-dev libgtest-dev libcli11-dev; do
  have_pkg "$pkg" || need+=("$pkg")
done

if ((${#need[@]})); then
  echo "install-deps: installing ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

cuda="${CUDA_HOME:-${CUDA_PATH:-/usr/local/cuda}}"
for f in include/nvrtc.h include/cublasLt.h include/cuda_bf16.h lib64/libcudart_static.a; do
  if [ ! -e "$cuda/$f" ]; then
    echo "install-deps: the CUDA 13 toolkit is missing ($cuda/$f not found); install it and set CUDA_HOME" >&2
    exit 1
  fi
done
