#!/usr/bin/env bash
# Installs the npm tarball of `cargo xtask dist` into an empty project, offline, and uses it there
# as a user would (crates/convq-wasm/consumer/README.md says what runs). CI runs it after
# `cargo xtask dist`; TypeScript comes from the tools directory (scripts/setup-wasm.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=${CONVQ_TOOLS_DIR:-$HOME/.cache/convq/tools}
shopt -s nullglob
tarballs=(target/dist/convq-*.tgz)
((${#tarballs[@]} == 1)) || { echo "expected one target/dist/convq-*.tgz, found ${#tarballs[@]}: run cargo xtask dist" >&2; exit 1; }
[[ -x "$TOOLS/node_modules/.bin/tsc" ]] || { echo "no tsc in $TOOLS: run scripts/setup-wasm.sh --test" >&2; exit 1; }

dir=target/npm-consumer
rm -rf "$dir"
cp -r crates/convq-wasm/consumer "$dir"
cd "$dir"
# --offline: npm may not touch the network; --ignore-scripts is not given, so an install script
# in the package would run (and the package has none: `cargo xtask dist` checks).
npm install --offline --no-audit --no-fund --loglevel=error "$ROOT/${tarballs[0]}"
node require.cjs
node import.mjs
tsc() { "$TOOLS/node_modules/.bin/tsc" --typeRoots "$TOOLS/node_modules/@types" "$@"; }
tsc --noEmit --strict -p tsconfig.json
echo "tsc --noEmit --strict: ok"
# The README's TypeScript snippets, as the package ships them.
node readme-snippets.mjs
tsc -p tsconfig.readme.json
echo "README snippets: tsc --strict ok"
# A TypeScript customization and its tests (src/, ts-test/), compiled and run.
tsc -p tsconfig.build.json
node --test test/ dist/ts-test/
