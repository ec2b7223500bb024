#!/usr/bin/env bash
# Builds the container image of `convq serve` (Dockerfile) with podman, then starts it and checks
# it answers: the HEALTHCHECK, /healthz and POST /getConversations on 127.0.0.1, then stops it.
#
#   scripts/container.sh            # build and test (needs podman: apt-get install podman)
#   scripts/container.sh --no-test  # build only
#
# The binary: glibc, statically linked (`-C target-feature=+crt-static`), built on the host with
# the release profile. rustup on the build machine has no musl target and no registry is
# reachable for a builder image, so nothing is compiled inside the image build. The image is
# `FROM scratch`: the binary, the host's CA bundle (Debian's ca-certificates), user 65532.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v podman >/dev/null || { echo "podman is needed: apt-get install podman" >&2; exit 1; }
start=$SECONDS
target=$(rustc -vV | sed -n 's/^host: //p')
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
image=localhost/convq:$version

echo "== static binary ($target, release)"
RUSTFLAGS='-C target-feature=+crt-static' \
  cargo build --release --locked --target "$target" -p convq-cli --bin convq
binary=target/$target/release/convq
if ldd "$binary" 2>&1 | grep -q '=>'; then
  echo "$binary is dynamically linked:" >&2; ldd "$binary" >&2; exit 1
fi

echo "== image $image"
context=target/container
rm -rf "$context" && mkdir -p "$context"
cp "$binary" "$context/convq"
cp /etc/ssl/certs/ca-certificates.crt "$context/"
# Docker format: OCI image configs have no HEALTHCHECK.
podman build --quiet --format docker --tag "$image" --file Dockerfile "$context"
podman image inspect "$image" --format 'size {{.Size}} bytes, user {{.Config.User}}, healthcheck {{.Config.Healthcheck.Test}}'
echo "build: $((SECONDS - start))s"
[[ ${1:-} == --no-test ]] && exit 0

echo "== run it"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
name=convq-test-$$
podman run --detach --rm --name "$name" --publish "127.0.0.1:$port:8080" "$image" >/dev/null
trap 'podman stop --time 5 "$name" >/dev/null 2>&1 || true' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 50); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$base/healthz"; echo
answer=$(curl -fsS "$base/getConversations" -H 'content-type: application/json' \
  -H 'x-correlation-id: container-check' -d @examples/waiting.json)
echo "${answer:0:160}..."
grep -q '"status":true' <<<"$answer"
# The HEALTHCHECK as the runtime runs it, and a name resolved inside the image (static glibc).
podman healthcheck run "$name" && echo "healthcheck: healthy"
podman exec "$name" /convq healthcheck http://localhost:8080/healthz && echo "localhost resolves"
echo "== log (JSON lines)"
podman logs "$name" 2>&1 | head -3
podman logs "$name" 2>&1 | grep -q '"correlation_id":"container-check"'
echo "container checks passed in $((SECONDS - start))s"
