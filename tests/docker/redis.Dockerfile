# redis-server from Debian, for the redis-profile docker test on an engine that
# cannot pull redis:7.  The test tags it and points ROLLCALL_REDIS_IMAGE at it;
# docker-compose.yml gives the command line (same as for the official image).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/*
USER redis
WORKDIR /var/lib/redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
