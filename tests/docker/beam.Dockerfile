# A real BEAM node for the mixed-cluster docker test (tests/docker/dockertest.py beam).
# Built from the same base image as rollcall; Debian's erlang-base brings erl,
# epmd and net_adm.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends erlang-base \
 && rm -rf /var/lib/apt/lists/*
# Same owner and mode as in the rollcall image, whichever container mounts the
# shared (empty) registry volume first.
RUN install -d -o 10001 -g 10001 -m 0770 /var/lib/rollcall/registry
COPY beam-node.sh /usr/local/bin/beam-node
ENTRYPOINT ["/usr/local/bin/beam-node"]
