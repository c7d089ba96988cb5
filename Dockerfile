# SocialOps as a container: a static binary on a minimal base, run as a
# non-root user. `serve` applies the migrations itself on start.
#
#   docker build -t socialops .
#   docker run -e SOCIALOPS_DATABASE_URL=postgres://… -e SOCIALOPS_HTTP_ADDR=0.0.0.0:8080 -p 8080:8080 socialops
#
# Both images are pinned to versions; bump them deliberately.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# Modules first, so a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no cgo), reproducible (-trimpath), without the symbol table.
RUN CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags="-s -w" -o /out/socialops ./cmd/socialops

# distroless/static: CA certificates and tzdata, no shell, no package manager;
# the :nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/socialops /socialops
USER nonroot:nonroot
ENV SOCIALOPS_HTTP_ADDR=0.0.0.0:8080 \
    SOCIALOPS_METRICS_ADDR=0.0.0.0:9464
EXPOSE 8080 9464
# No curl in the image: the binary asks its own /readyz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["/socialops", "healthcheck"]
ENTRYPOINT ["/socialops"]
CMD ["serve"]
