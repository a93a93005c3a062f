#!/usr/bin/env bash
# Mutation testing of the core modules with mutmut 3 (pip install 'spikeline[mutation]'): a report, not part of
# `make test`. Usage: benchmarks/mutation.sh MODULE TEST_FILE... (e.g. deploy/bundle.py tests/deploy/test_bundle.py)
# Runs in a scratch copy of the working tree (mutmut writes mutants/ next to the code). Prints mutmut's results
# (the surviving mutants) and writes the scratch folder's path; `mutmut show NAME` there shows a mutant's diff.
# mutmut 3 does not mutate decorated functions: with STRIP_JIT=1 the module's @njit / @register_jitable lines
# are removed in the scratch copy and numba's JIT is off (NUMBA_DISABLE_JIT=1: the same functions, run as
# Python), so the arithmetic and gradient kernels get mutated too.
set -euo pipefail
module=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
work=${MUTATION_WORK:-$(mktemp -d /tmp/spikeline-mutation.XXXX)}
mkdir -p "$work"
(cd "$here" && git ls-files -co --exclude-standard | grep -v '^mutants/' | tar -cf - -T -) | tar -xf - -C "$work"
{
  echo "[mutmut]"
  echo "source_paths=$module"
  echo "pytest_add_cli_args_test_selection="
  for t in "$@"; do echo "    $t"; done
  echo "also_copy="  # the rest of the package (mutmut copies only the mutated module and the tests)
  (cd "$work" && git -C "$here" ls-files -co --exclude-standard hw_models toolchain deploy | grep -vxF "$module" \
     | sed 's/^/    /')
  echo "pytest_add_cli_args="
  echo "    -p"
  echo "    no:cacheprovider"
  echo "    -x"
} > "$work/setup.cfg"
cd "$work"
git -C "$here" ls-files -co --exclude-standard hw_models toolchain deploy | xargs -n1 dirname | sort -u \
  | sed 's|^|mutants/|' | xargs mkdir -p  # mutmut copies also_copy files but creates no folders
if [ "${STRIP_JIT:-0}" = 1 ]; then
  sed -i -E '/^\s*@(njit|register_jitable)\b/d' "$module"
  export NUMBA_DISABLE_JIT=1
fi
export PYTHONPATH="$work"
# MUTATION_NAMES: space-separated mutant-name globs to run only those (e.g. "toolchain.grad.eventprop.x__backwards*")
# shellcheck disable=SC2086
nice -n 5 "${MUTMUT:-mutmut}" run --max-children "${MUTATION_CHILDREN:-2}" ${MUTATION_NAMES:-} || true
"${MUTMUT:-mutmut}" results --all true > results.txt 2>&1 || "${MUTMUT:-mutmut}" results > results.txt 2>&1 || true
echo "work folder: $work"
grep -c ": killed" results.txt || true
cat results.txt | grep -v ": killed" | head -200
