#!/usr/bin/env bash
# Runs the convq/testing examples (crates/convq-wasm/examples/: node:test, Jest, Vitest) against
# the npm tarball of `cargo xtask dist --npm`, each in a copy under target/examples/. Jest and
# Vitest come from the npm registry (pinned in each package.json).
#
#   scripts/examples.sh                 # all three
#   scripts/examples.sh node-test       # some
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
shopt -s nullglob
tarballs=(target/dist/convq-*.tgz)
((${#tarballs[@]} == 1)) || { echo "expected one target/dist/convq-*.tgz: run cargo xtask dist --npm" >&2; exit 1; }
names=("$@")
((${#names[@]})) || names=(node-test jest vitest)
for name in "${names[@]}"; do
    start=$SECONDS
    dir=target/examples/$name
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "crates/convq-wasm/examples/$name/." "$dir/"
    cp crates/convq-wasm/examples/records.json "$dir/"
    # The customization is CommonJS; the Vitest project is an ES module package.
    if [[ $name == vitest ]]; then
        cp crates/convq-wasm/examples/customization.js "$dir/customization.cjs"
    else
        cp crates/convq-wasm/examples/customization.js "$dir/"
    fi
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "$ROOT/${tarballs[0]}" && npm test)
    echo "examples: $name ok in $((SECONDS - start))s"
done
