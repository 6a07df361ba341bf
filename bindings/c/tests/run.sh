#!/usr/bin/env bash
# The C ABI's tests, as a C program sees the library: build libsagevec (build.sh),
# check what it exports (`nm -D`: only sagevec_* functions) and needs (no hwloc),
# compile the header as C99 and as C++, compile the C tests with
# -std=c11 -Wall -Wextra -Werror through pkg-config, run them against the shared
# and the static library, then again under valgrind memcheck with
# SAGEVEC_ISA=avx2 (valgrind 3.19 cannot decode AVX-512).
#
#   bindings/c/tests/run.sh              # everything
#   SAGEVEC_CAPI_VALGRIND=0 bindings/c/tests/run.sh   # without valgrind
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."

bindings/c/build.sh
out=target/capi/tests
mkdir -p "$out"
export PKG_CONFIG_PATH="$PWD/target/capi/pkgconfig"
lib=target/release/libsagevec.so

echo "exported symbols (nm -D --defined-only $lib)"
stray=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^sagevec_' || true)
[ -z "$stray" ] || { echo "symbols without the sagevec_ prefix:" >&2; echo "$stray" >&2; exit 1; }
not_fn=$(nm -D --defined-only "$lib" | awk '$2 != "T" {print $3}')
[ -z "$not_fn" ] || { echo "exported non-functions: $not_fn" >&2; exit 1; }
echo "  $(nm -D --defined-only "$lib" | wc -l) functions, all sagevec_*"
if ldd "$lib" | grep -qi hwloc; then
  echo "$lib links hwloc (the C library must need no system library)" >&2
  exit 1
fi

CFLAGS=(-O1 -g -Wall -Wextra -Werror -pedantic)
echo "header as C99, C11 and C++ (extern \"C\")"
printf '#include "sagevec.h"\nint main(void) { return SAGEVEC_OK; }\n' >"$out/header.c"
cc -std=c99 "${CFLAGS[@]}" $(pkg-config --cflags sagevec) -c "$out/header.c" -o "$out/header_c99.o"
cc -std=c11 "${CFLAGS[@]}" $(pkg-config --cflags sagevec) -c "$out/header.c" -o "$out/header_c11.o"
c++ -std=c++11 "${CFLAGS[@]}" $(pkg-config --cflags sagevec) bindings/c/tests/c/header_cxx.cpp \
  $(pkg-config --libs sagevec) -Wl,-rpath,"$PWD/target/release" -o "$out/header_cxx"
"$out/header_cxx"

echo "the README's C example, compiled as C99 and run"
awk '/^## C ABI/ { section = 1 } section && /^```c$/ { code = 1; next } code && /^```$/ { exit } code' \
  README.md >"$out/readme_example.c"
[ -s "$out/readme_example.c" ] || { echo "no C example under '## C ABI' in README.md" >&2; exit 1; }
cc -std=c99 "${CFLAGS[@]}" "$out/readme_example.c" $(pkg-config --cflags --libs sagevec) \
  -Wl,-rpath,"$PWD/target/release" -o "$out/readme_example"
"$out/readme_example" | tee "$out/readme_example.txt"
grep -q "^l2 = 0.05; nearest 1 (0.05), then 0, at version 1$" "$out/readme_example.txt" || { echo "README example: unexpected output" >&2; exit 1; }

TESTS=(test_kernels test_errors test_index test_threads)
for t in "${TESTS[@]}"; do
  cc -std=c11 "${CFLAGS[@]}" $(pkg-config --cflags sagevec) "bindings/c/tests/c/$t.c" \
    $(pkg-config --libs sagevec) -lm -pthread -Wl,-rpath,"$PWD/target/release" -o "$out/$t"
done
# The static library: the same kernel test, linked with Libs.private.
cc -std=c11 "${CFLAGS[@]}" $(pkg-config --cflags sagevec) bindings/c/tests/c/test_kernels.c \
  target/release/libsagevec.a $(pkg-config --libs-only-other --static sagevec) \
  $(pkg-config --static --libs-only-l sagevec | sed 's/-lsagevec//') -lm -o "$out/test_kernels_static"
if ldd "$out/test_kernels_static" | grep -q libsagevec; then
  echo "test_kernels_static links libsagevec.so" >&2
  exit 1
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for t in "${TESTS[@]}" test_kernels_static; do
  echo "== $t"
  SAGEVEC_CAPI_TMP="$(mktemp -d -p "$dir")" "$out/$t"
done

if [ "${SAGEVEC_CAPI_VALGRIND:-1}" != "0" ]; then
  if command -v valgrind >/dev/null; then
    isa=avx2
    grep -qw avx2 /proc/cpuinfo || isa=scalar
    for t in "${TESTS[@]}"; do
      echo "== valgrind $t (SAGEVEC_ISA=$isa)"
      SAGEVEC_ISA=$isa SAGEVEC_CAPI_TMP="$(mktemp -d -p "$dir")" SAGEVEC_CAPI_QUICK=1 \
        valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
        "$out/$t"
    done
  else
    echo "SKIP: valgrind not installed"
    [ "${CI:-}" != "true" ] || { echo "CI needs valgrind" >&2; exit 1; }
  fi
fi
