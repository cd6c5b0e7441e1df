#!/usr/bin/env bash
# The kernel loops must stay vectorised: the dual maps (arccos kernels) are
# nearly all of a Gram matrix's time, and a scalar loop is 3x slower with no
# other symptom (bb680b4's fmax did exactly that, unnoticed by every
# numerical test). Reads the compiled library and requires packed double
# arithmetic in every clone of the dual-map loops: zmm registers in the
# AVX-512 clone, ymm in the AVX2 clone, packed SSE2 (mulpd) in the default.
#   tests/check_vectorised.sh LIBRARY_OR_OBJECT
set -euo pipefail
lib="$1"
[ -f "$lib" ] || { echo "check_vectorised: $lib: no such file" >&2; exit 2; }
dis=$(objdump -d --no-show-raw-insn "$lib")
fails=0
body() { awk -v f="<$1>:" '$2 == f { p = 1; next } p && /^$/ { p = 0 } p' <<<"$dis"; }
for fn in relu_layer relu_hyper_layer; do
  for clone in "$fn.avx512f zmm" "$fn.avx2 ymm" "$fn.default mulpd"; do
    set -- $clone
    lines=$(body "$1" | wc -l)
    packed=$(body "$1" | grep -c "$2" || true)
    if [ "$lines" -eq 0 ]; then
      echo "check_vectorised: $1 is not in $lib" >&2; fails=1
    elif [ "$packed" -lt 10 ]; then
      echo "check_vectorised: $1 is scalar ($packed instructions on $2 in $lines): the loop no longer vectorises" >&2
      fails=1
    else
      echo "$1: $packed of $lines instructions on $2"
    fi
  done
done
exit $fails
