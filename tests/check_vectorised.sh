#!/usr/bin/env bash
# The kernel loops must stay vectorised: the dual maps (arccos kernels) are
# nearly all of a Gram matrix's time, and a scalar loop is 3x slower with no
# other symptom (bb680b4's fmax did exactly that, unnoticed by every
# numerical test). Reads the compiled library and requires packed double
# arithmetic in every clone of the dual-map loops: zmm registers in the
# AVX-512 clone, ymm in the AVX-with-FMA clone, packed SSE2 (mulpd) in the
# default. And no scalar double arithmetic at all: these loops are compiled
# with FMA contraction, so an element left to a scalar remainder would round
# differently from its neighbours and a kernel entry would depend on where it
# sits in a rank's block (kernels_dual.c walks whole chunks to prevent that).
#   tests/check_vectorised.sh LIBRARY_OR_OBJECT
set -euo pipefail
lib="$1"
[ -f "$lib" ] || { echo "check_vectorised: $lib: no such file" >&2; exit 2; }
dis=$(objdump -d --no-show-raw-insn "$lib")
fails=0
body() { awk -v f="<$1>:" '$2 == f { p = 1; next } p && /^$/ { p = 0 } p' <<<"$dis"; }
# a clone passes with at least 10 instructions on packed registers, a packed
# square root (the dual map's two roots), FMA where the clone has it, no
# scalar double arithmetic (a remainder loop) and no call (fmax, fmin, sqrt
# or acos from libm: what a scalar loop calls)
for fn in hk_relu_layer hk_relu_hyper_column; do
  for clone in "$fn.avx512f zmm sqrtpd.*zmm vfmadd" "$fn.fma ymm sqrtpd.*ymm vfmadd" "$fn.default mulpd sqrtpd none"; do
    set -- $clone
    text=$(body "$1")
    lines=$(grep -c . <<<"$text" || true)
    packed=$(grep -c "$2" <<<"$text" || true)
    roots=$(grep -c "$3" <<<"$text" || true)
    fmas=$(grep -c "${4/none/vfmadd}" <<<"$text" || true)
    scalar=$(grep -cE "(add|sub|mul|div|sqrt|min|max)sd|fn?m(add|sub)[0-9]+sd|cmp[a-z]*sd" <<<"$text" || true)
    calls=$(grep -c "call" <<<"$text" || true)
    if [ -z "$text" ]; then
      echo "check_vectorised: $1 is not in $lib" >&2; fails=1
    elif [ "$packed" -lt 10 ] || [ "$roots" -lt 1 ] || [ "$calls" -gt 0 ]; then
      echo "check_vectorised: $1 is scalar ($packed of $lines instructions on $2, $roots packed square roots," \
           "$calls calls): the loop no longer vectorises" >&2
      fails=1
    elif [ "$scalar" -gt 0 ]; then
      echo "check_vectorised: $1 has $scalar scalar double instructions: a remainder loop, whose elements" \
           "round differently from the vector body's" >&2
      fails=1
    elif [ "$4" != none ] && [ "$fmas" -lt 1 ]; then
      echo "check_vectorised: $1 has no FMA ($4): kernels_dual.c is no longer compiled with contraction" >&2
      fails=1
    elif [ "$4" = none ] && [ "$fmas" -gt 0 ]; then
      echo "check_vectorised: $1 uses FMA, which plain x86-64 does not have" >&2
      fails=1
    else
      echo "$1: $packed of $lines instructions on $2, $roots packed square roots, $fmas FMA," \
           "no scalar arithmetic, no calls"
    fi
  done
done
exit $fails
