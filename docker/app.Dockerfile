# An Elixir app clustered by rollcall alone: the compose profile `app`
#
#   docker-compose --profile app up --build --scale app=5 app      (docs/app.md)
#
# The same build stages as docker/Dockerfile (the layers are shared), then a
# runtime with Debian's elixir and docker/app/app.exs, run as the child of
# the agent: `rollcall run -- elixir --name "$RELEASE_NODE" ...`. No mix, no
# dependency, no clustering code in the app.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS deps
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        cmake make gcc libc6-dev pkg-config \
        libevent-dev libssl-dev libinih-dev libhiredis-dev libpq-dev \
        libcurl4-openssl-dev libexpat1-dev \
 && rm -rf /var/lib/apt/lists/*

FROM deps AS build
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DROLLCALL_TESTS=OFF \
 && cmake --build /build --target rollcall -j"$(nproc)" \
 && strip /build/rollcall /build/rollcall-*.so

FROM ${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libevent-core-2.1-7 libevent-pthreads-2.1-7 libssl3 libinih1 libhiredis0.14 \
        libpq5 libcurl4 libexpat1 ca-certificates elixir \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log
RUN groupadd --system --gid 10001 rollcall \
 && useradd --system --uid 10001 --gid rollcall --home-dir /var/lib/rollcall \
        --shell /usr/sbin/nologin rollcall \
 && install -d -o rollcall -g rollcall -m 0750 /var/lib/rollcall \
 && install -d -o rollcall -g rollcall -m 0770 /var/lib/rollcall/registry \
 && install -d -m 0755 /etc/rollcall /opt/app \
 && printf '%s\n' '[registry]' 'registry = file:///var/lib/rollcall/registry' \
        > /etc/rollcall/rollcall.ini
COPY --from=build /build/rollcall /usr/local/bin/rollcall
COPY --from=build /build/rollcall-redis.so /build/rollcall-postgres.so /build/rollcall-s3.so \
     /usr/local/lib/rollcall/
# Compiled here, not at each start: `elixir app.exs` would load the compiler
# and compile the module after the node's distribution is up (seconds on a
# busy machine), delaying the app's first output, not its clustering.
COPY docker/app/app.exs /opt/app/app.exs
RUN cd /opt/app && elixirc app.exs && rm app.exs && ls /opt/app/Elixir.App.beam

ENV ROLLCALL_CONFIG=/etc/rollcall/rollcall.ini \
    HOME=/var/lib/rollcall \
    LANG=C.UTF-8
WORKDIR /var/lib/rollcall
USER rollcall:rollcall
EXPOSE 4369
STOPSIGNAL SIGTERM
# The agent is PID 1 and the app its child: the app is named app@<container
# address> (RELEASE_NODE), the agent rollcall@<container address>. The app
# registers with the agent's embedded EPMD (-start_epmd false).
ENTRYPOINT ["rollcall", "run", "--", "sh", "-c", \
            "exec elixir --erl '-start_epmd false' --name \"$RELEASE_NODE\" --cookie \"$RELEASE_COOKIE\" -pa /opt/app -e 'App.main()'"]
