#!/usr/bin/env bash
# Builds libsagevec.so and libsagevec.a (release profile, no hwloc) and writes a
# pkg-config file for them.
#
#   bindings/c/build.sh                  # pkg-config file for the build tree:
#                                        #   PKG_CONFIG_PATH=target/capi/pkgconfig
#   bindings/c/build.sh --prefix /usr/local   # also installs lib/, include/ and
#                                        #   lib/pkgconfig/sagevec.pc under the prefix
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

prefix=""
if [ "${1:-}" = "--prefix" ]; then
  prefix="${2:?--prefix needs a directory}"
fi

# `cargo rustc` builds what `cargo build` would and also prints the system
# libraries a static link needs (they go into Libs.private).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo rustc -q --release -p sagevec-capi --lib -- --print native-static-libs 2>"$log" || { cat "$log" >&2; exit 1; }
private=$(sed -n 's/.*native-static-libs: //p' "$log" | tail -n 1)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

write_pc() { # prefix libdir includedir out
  mkdir -p "$(dirname "$4")"
  sed -e "s|@PREFIX@|$1|" -e "s|@LIBDIR@|$2|" -e "s|@INCLUDEDIR@|$3|" \
    -e "s|@VERSION@|$version|" -e "s|@PRIVATE_LIBS@|$private|" \
    bindings/c/sagevec.pc.in >"$4"
}

root="$PWD"
write_pc "$root" "$root/target/release" "$root/bindings/c/include" target/capi/pkgconfig/sagevec.pc

if [ -n "$prefix" ]; then
  install -d "$prefix/lib/pkgconfig" "$prefix/include"
  install -m 0755 target/release/libsagevec.so "$prefix/lib/"
  install -m 0644 target/release/libsagevec.a "$prefix/lib/"
  install -m 0644 bindings/c/include/sagevec.h "$prefix/include/"
  write_pc "$prefix" "$prefix/lib" "$prefix/include" "$prefix/lib/pkgconfig/sagevec.pc"
  echo "installed into $prefix (PKG_CONFIG_PATH=$prefix/lib/pkgconfig)"
fi
