# `convq serve` as a container: one statically linked binary and the CA bundle for signing in
# to Entra ID and calling Dataverse over TLS; no shell, no package manager, not root.
#
# scripts/container.sh builds the binary on the host (glibc, statically linked: this machine's
# rustup has no musl target, and Debian packages no Rust standard library for musl, so
# musl-tools alone cannot build one) and passes a directory holding `convq` and
# `ca-certificates.crt` as the build context, so the build needs no registry and no Rust
# toolchain in an image. Static glibc still resolves names: its `files` and `dns` lookups are
# linked in, and the runtime writes /etc/hosts and /etc/resolv.conf.
FROM scratch
COPY convq /convq
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# rustls reads the roots from here (there is no system store in the image). PORT, not
# CONVQ_ADDR, so that a platform's own PORT (and CONVQ_ADDR) still win; it listens on 0.0.0.0.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PORT=8080 \
    CONVQ_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080
# `convq healthcheck` GETs /healthz at 127.0.0.1:$PORT (or CONVQ_ADDR's port): no curl needed.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 CMD ["/convq", "healthcheck"]
ENTRYPOINT ["/convq", "serve"]
