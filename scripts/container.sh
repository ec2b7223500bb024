#!/usr/bin/env bash
# Builds the container image of `convq serve` (Dockerfile) with podman, then starts it and checks
# it answers: the HEALTHCHECK, /healthz and POST /getConversations on 127.0.0.1, then stops it.
#
#   scripts/container.sh            # build and test (needs podman: apt-get install podman)
#   scripts/container.sh --no-test  # build only
#   CONTAINER_CHECK=chroot scripts/container.sh  # check the image as a host that cannot run it does
#
# The binary: glibc, statically linked (`-C target-feature=+crt-static`), built on the host with
# the release profile. rustup on the build machine has no musl target and no registry is
# reachable for a builder image, so nothing is compiled inside the image build. The image is
# `FROM scratch`: the binary, the host's CA bundle (Debian's ca-certificates), user 65532.
# Names resolve without NSS libraries: glibc links its `files` and `dns` lookups into static
# binaries (the `localhost` check below), and `convq healthcheck` asks 127.0.0.1 anyway.
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
# What the runtime needs where containers run inside a container or sandbox (both harmless
# elsewhere):
# - crun, podman's default on Debian, refuses a host whose cgroup v2 hierarchy holds controllers
#   while v1 ones are mounted ("cgroups in hybrid mode not supported", even with
#   --cgroups=disabled); runc (Debian's `runc`) runs there.
# - podman asks for RLIMIT_NOFILE 1048576 by default, which a runtime without CAP_SYS_RESOURCE
#   cannot set above the caller's hard limit ("setrlimit RLIMIT_NOFILE: Operation not
#   permitted"): ask for the caller's own, and for a process count the service never nears
#   (tokio's workers and at most 512 blocking threads).
run_flags=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
if [[ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]] && command -v runc >/dev/null; then
  run_flags+=(--runtime runc)
  echo "runtime: runc (cgroup v1 and v2 controllers mixed here, which crun refuses)"
fi
base=http://127.0.0.1:$port
# Without systemd podman cannot schedule the HEALTHCHECK (it logs "unable to get systemd
# connection"); `podman healthcheck run` below runs it as the timer would.
if [[ ${CONTAINER_CHECK:-} != chroot ]] &&
  podman run --detach --rm --name "$name" "${run_flags[@]}" --publish "127.0.0.1:$port:8080" "$image" >"$context/run.out" 2>&1; then
  trap 'podman stop --time 5 "$name" >/dev/null 2>&1 || true' EXIT
  mode=podman
  in_image() { podman exec "$name" "$@"; }
  logs() { podman logs "$name" 2>&1 | grep -v 'systemd connection' || true; }
else
  # A host that builds images but cannot run containers (no user namespaces, a runtime the
  # kernel refuses): the image is still checked, its own files run in a chroot, as its user.
  if [[ ${CONTAINER_CHECK:-} == chroot ]]; then
    echo "CONTAINER_CHECK=chroot: the image's filesystem is checked in a chroot"
  else
    echo "!! podman run failed here, so the image's filesystem is checked in a chroot instead:" >&2
    cat "$context/run.out" >&2
  fi
  mode=chroot
  rootfs=$context/rootfs
  rm -rf "$rootfs" && mkdir -p "$rootfs/etc"
  exported=$(podman create "$image")
  podman export "$exported" | tar -x -C "$rootfs"
  podman rm "$exported" >/dev/null 2>&1 # (it logs that no systemd runs its healthcheck timer)
  echo "127.0.0.1 localhost" >"$rootfs/etc/hosts"
  # The devices every OCI runtime gives a container: the static binary reads its random seed
  # from /dev/urandom (getrandom finds no getrandom(2) symbol to call in a static glibc).
  mkdir -p "$rootfs/dev"
  for dev in "null 1 3" "zero 1 5" "random 1 8" "urandom 1 9"; do
    set -- $dev
    mknod -m 666 "$rootfs/dev/$1" c "$2" "$3"
  done
  mapfile -t image_env < <(podman image inspect "$image" --format '{{range .Config.Env}}{{println .}}{{end}}' | grep .)
  in_image() { env -i "${image_env[@]}" PORT="$port" chroot --userspec=65532:65532 "$rootfs" "$@"; }
  # Not through in_image: $! must be the server's own pid (env and chroot exec into it).
  env -i "${image_env[@]}" PORT="$port" chroot --userspec=65532:65532 "$rootfs" /convq serve \
    --addr "127.0.0.1:$port" >"$context/serve.log" 2>&1 &
  served=$!
  trap 'kill "$served" 2>/dev/null || true' EXIT
  logs() { cat "$context/serve.log"; }
fi
for _ in $(seq 50); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$base/healthz"; echo
answer=$(curl -fsS "$base/getConversations" -H 'content-type: application/json' \
  -H 'x-correlation-id: container-check' -d @examples/waiting.json)
echo "${answer:0:160}..."
grep -q '"status":true' <<<"$answer"
# The HEALTHCHECK as the runtime runs it, a name resolved inside the image (static glibc, from
# the /etc/hosts the runtime writes), and the user it runs as.
if [[ $mode == podman ]]; then
  podman healthcheck run "$name"
  echo "healthcheck: $(podman inspect "$name" --format '{{.State.Health.Status}}')"
  user=$(podman top "$name" huser 2>/dev/null | sed -n 2p | tr -d ' ')
  in_image /convq healthcheck http://localhost:8080/healthz && echo "localhost resolves"
else
  in_image /convq healthcheck && echo "healthcheck: healthy"
  user=$(ps -o uid= -p "$served" | tr -d ' ')
  in_image /convq healthcheck "http://localhost:$port/healthz" && echo "localhost resolves"
fi
echo "runs as uid $user"
[[ $user == 65532 ]]
echo "== log (JSON lines)"
# Read once: `podman logs | grep -q` could end podman with SIGPIPE, failing under pipefail.
log=$(logs)
sed -n 1,3p <<<"$log"
python3 -c '
import json, sys
lines = [json.loads(line) for line in sys.stdin.read().splitlines() if line.strip()]
access = [l for l in lines if l.get("correlation_id") == "container-check"]
assert access, "no access line with the correlation id"
for key in ("caller", "method", "route", "status", "latency_us", "trace_id"):
    assert key in access[0], f"the access line has no {key}: {access[0]}"
assert access[0]["route"] == "/getConversations" and access[0]["status"] == 200, access[0]
print(f"{len(lines)} lines, each a JSON object; the access line: {json.dumps(access[0])}")
' <<<"$log"
echo "container checks ($mode) passed in $((SECONDS - start))s"
