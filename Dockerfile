# redis-cache-proxy container: build in one stage, run from a small Debian image as a non-root user,
# with a HEALTHCHECK on the admin listener's /healthz.
# The `test` stage runs `make test` (unit and system tests with their own redis-server).
# The tested path is the native `make test`; these files are checked with `docker-compose config`.
FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libuv1-dev libhiredis-dev node-llhttp libspdlog-dev libfmt-dev doctest-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build build -j"$(nproc)"

FROM build AS test
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      redis-server redis-tools python3 python3-pytest python3-redis curl procps nodejs npm \
 && rm -rf /var/lib/apt/lists/*
CMD ["make", "test"]

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libuv1 libhiredis0.14 libspdlog1.10 libfmt9 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --shell /usr/sbin/nologin rcp
COPY --from=build /src/build/redis-cache-proxy /usr/local/bin/redis-cache-proxy
COPY scripts/redis-cache-proxy.conf /etc/redis-cache-proxy/redis-cache-proxy.conf
USER rcp
# 6380: data (HTTP and RESP); 9121: admin (/metrics, /healthz, /readyz)
EXPOSE 6380 9121
ENV RCP_BIND=0.0.0.0 RCP_ADMIN_PORT=9121 RCP_ADMIN_BIND=0.0.0.0 GLIBC_TUNABLES=glibc.malloc.hugetlb=1
# bash's /dev/tcp keeps the runtime image free of curl
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9121 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ' 200 ' <&3"]
ENTRYPOINT ["/usr/local/bin/redis-cache-proxy"]
