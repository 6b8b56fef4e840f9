# certbound on debian:bookworm with the same Debian packages as etc/deps.sh: one image with
# certbound-authd, certbound-proxy, the demo echo upstream and the demo PKI script.
FROM debian:bookworm AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config libhiredis-dev libevent-dev libmsgpack-dev libpq-dev \
        libssl-dev libjansson-dev libhttp-parser-dev && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCB_BUILD_TESTS=OFF \
    && cmake --build /build -j"$(nproc)"

FROM debian:bookworm
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libhiredis0.14 libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7 \
        libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libmsgpackc2 libpq5 libssl3 libjansson4 \
        libhttp-parser2.9 openssl curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system certbound
COPY --from=build /build/bin/certbound-authd /build/bin/certbound-proxy /build/bin/cb-echo-upstream /usr/local/bin/
COPY etc/authd.example.json /etc/certbound/authd.json
COPY etc/proxy.example.json /etc/certbound/proxy.json
COPY tests/harness/certs.sh etc/compose-init.sh /usr/local/share/certbound/
USER certbound
EXPOSE 8181 9191 8443
ENTRYPOINT ["/usr/local/bin/certbound-authd", "--config", "/etc/certbound/authd.json"]
