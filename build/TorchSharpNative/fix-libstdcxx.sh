#!/usr/bin/env bash
# Makes TorchSharp's libLibTorchSharp.so loadable on systems whose libstdc++ predates
# GLIBCXX_3.4.32 (GCC 13), e.g. Debian 12. Called by TorchSharpNative.targets at build time.
#   fix-libstdcxx.sh <path to libLibTorchSharp.so> <output directory>
# Writes "needed" or "not-needed" as its last line. When needed, the output directory gets a
# copy of the library whose GLIBCXX_3.4.32 requirement is weak and that loads
# libcoordinator_glibcxx_shim.so (built here) to supply the one symbol it needs.
set -euo pipefail
source_lib="$1"
out_dir="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

system_libstdcxx="$(/sbin/ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')"
if [[ -z "$system_libstdcxx" ]]; then
  system_libstdcxx="$(ls /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6 2>/dev/null | head -n 1 || true)"
fi
if [[ -n "$system_libstdcxx" ]] && grep -q "GLIBCXX_3.4.32" "$system_libstdcxx"; then
  rm -rf "$out_dir"
  echo "not-needed"
  exit 0
fi

for tool in g++ patchelf; do
  if ! command -v "$tool" >/dev/null; then
    echo "TorchSharp needs GLIBCXX_3.4.32, which ${system_libstdcxx:-the system libstdc++} lacks; the build fixes that with '$tool', which is not installed (apt-get install -y g++ patchelf)." >&2
    exit 1
  fi
done

patched="$out_dir/libLibTorchSharp.so"
shim="$out_dir/libcoordinator_glibcxx_shim.so"
if [[ -f "$patched" && -f "$shim" && "$patched" -nt "$source_lib" && "$patched" -nt "$0" \
      && "$patched" -nt "$here/weaken_verneed.cpp" && "$shim" -nt "$here/glibcxx_shim.cpp" ]]; then
  echo "needed (up to date)"
  exit 0
fi

mkdir -p "$out_dir"
g++ -O2 -o "$out_dir/weaken_verneed" "$here/weaken_verneed.cpp"
g++ -O2 -shared -fPIC -o "$out_dir/libcoordinator_glibcxx_shim.so" "$here/glibcxx_shim.cpp"
cp "$source_lib" "$out_dir/libLibTorchSharp.so.tmp"
chmod u+w "$out_dir/libLibTorchSharp.so.tmp"
"$out_dir/weaken_verneed" "$out_dir/libLibTorchSharp.so.tmp" GLIBCXX_3.4.32
patchelf --add-needed libcoordinator_glibcxx_shim.so "$out_dir/libLibTorchSharp.so.tmp"
mv "$out_dir/libLibTorchSharp.so.tmp" "$out_dir/libLibTorchSharp.so"
rm -f "$out_dir/weaken_verneed"
echo "needed"
