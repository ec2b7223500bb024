#!/usr/bin/env bash
# Installs what `cargo xtask wasm` and `cargo xtask dist` need, each step skipped when satisfied.
# Run it once before them (CI does, in .ci/run):
#
#   scripts/setup-wasm.sh            # compiler target, wasm-bindgen, wasm-opt
#   scripts/setup-wasm.sh --test     # also Node, Chromium, playwright-core and TypeScript
#
# 1. A Rust standard library for wasm32-unknown-unknown: `rustup target add` (macOS, Windows and
#    most Linux machines). Where rustup cannot provide one (a machine that reaches only the package
#    registries), Debian's rustc-web toolchain with its std sources, which `cargo xtask wasm` then
#    uses with -Zbuild-std (needs root or sudo, Debian 12 or later).
# 2. wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in Cargo.lock.
# 3. npm: binaryen (wasm-opt; Debian's binaryen is too old for reference types) and, for --test,
#    playwright-core (drives Debian's Chromium, never downloads a browser), typescript and @types/node
#    (for the npm consumer's TypeScript tests).
#
# Tools go to $CONVQ_TOOLS_DIR, default ~/.cache/convq/tools (outside the clone, so CI can keep it).
set -euo pipefail
cd "$(dirname "$0")/.."

TEST=false
[[ "${1:-}" == --test ]] && TEST=true
TOOLS=${CONVQ_TOOLS_DIR:-$HOME/.cache/convq/tools}
# Exact versions: wasm-opt 132 is the first that keeps wasm-bindgen's reference types intact.
NPM_TOOLS=(binaryen@132.0.0)
$TEST && NPM_TOOLS+=(playwright-core@1.65.1 typescript@5.9.3 @types/node@20.19.43)
mkdir -p "$TOOLS"

log() { printf 'setup-wasm: %s\n' "$*"; }

apt_install() {
    local sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    log "apt-get install $*"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

# 1. The wasm32 standard library.
apt_packages=()
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "rustup has wasm32-unknown-unknown"
elif command -v rustup >/dev/null && rustup target add wasm32-unknown-unknown 2>/dev/null; then
    log "rustup target add wasm32-unknown-unknown: done"
elif [[ -x /usr/bin/rustc && -x /usr/bin/cargo && -x /usr/bin/rust-lld \
        && -f /usr/lib/rustlib/src/rust/library/std/Cargo.toml ]]; then
    log "rustup has no wasm32 target; using Debian's rustc-web toolchain"
elif command -v apt-get >/dev/null; then
    log "rustup cannot provide wasm32-unknown-unknown; installing Debian's rustc-web toolchain"
    apt_packages+=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22)
else
    log "no wasm32-unknown-unknown standard library: install rustup (https://rustup.rs) and rerun"
    exit 1
fi
command -v node >/dev/null || apt_packages+=(nodejs)
command -v npm >/dev/null || apt_packages+=(npm)
if $TEST && [[ ! -x /usr/bin/chromium ]]; then apt_packages+=(chromium); fi
if ((${#apt_packages[@]})); then
    command -v apt-get >/dev/null || { log "missing: ${apt_packages[*]}"; exit 1; }
    apt_install "${apt_packages[@]}"
fi

# 2. wasm-bindgen-cli, the version of the crate in Cargo.lock (the CLI refuses any other).
version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[[ -n "$version" ]] || { log "wasm-bindgen is not in Cargo.lock"; exit 1; }
if [[ "$("$TOOLS/bin/wasm-bindgen" --version 2>/dev/null)" != "wasm-bindgen $version" ]]; then
    log "cargo install wasm-bindgen-cli $version (about 3 minutes)"
    # Not --locked: its lockfile pins a webpki-roots release the registry no longer serves.
    # No default features: they only add TLS for its test runner's downloads.
    cargo install wasm-bindgen-cli --version "=$version" --no-default-features --force \
        --root "$TOOLS" --quiet
fi

# 3. npm tools, installed together (npm prunes what a later install does not name).
installed() {
    local name=${1%@*} want=${1##*@}
    [[ -f "$TOOLS/node_modules/$name/package.json" ]] &&
        [[ "$(node -p "require('$TOOLS/node_modules/$name/package.json').version")" == "$want" ]]
}
missing=false
for tool in "${NPM_TOOLS[@]}"; do installed "$tool" || missing=true; done
if $missing; then
    log "npm install ${NPM_TOOLS[*]}"
    npm install --prefix "$TOOLS" --save-exact --no-audit --no-fund --loglevel=error "${NPM_TOOLS[@]}"
fi
log "tools in $TOOLS"
