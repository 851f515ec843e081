# callmeter: the worker (and the gateway) as a container image, Debian 12.
#
#   docker build -t callmeter .
#   docker compose -f appliance/docker-compose.yml up -d        (privileged, host network, hugepages: docs/appliance-container.md)
#
# Two stages.  Each runs scripts that CI runs the same way on a Debian 12 host without Docker:
#   build:   appliance/deps.sh (build dependencies), make, make install into /out
#   runtime: the packages of appliance/runtime-packages.txt (run-time libraries only), checked against what the
#            binaries link by appliance/build-runtime-check.sh (tests/integration/test_appliance_runtime.sh)

FROM debian:bookworm-slim AS build
WORKDIR /src
COPY . .
RUN sh appliance/deps.sh \
 && make clean \
 && make -j"$(nproc)" all \
 && sh appliance/build-runtime-check.sh \
 && make install DESTDIR=/out PREFIX=/usr

FROM debian:bookworm-slim AS runtime
COPY appliance/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e '/^[[:space:]]*$/d' /tmp/runtime-packages.txt \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
# Programs, host helpers, entrypoint and health check (no /etc: configuration comes from the environment or a
# mounted /etc/callmeter/worker.conf).
COPY --from=build /out/usr/ /usr/
ENV HEALTH_PORT=3030
EXPOSE 3030
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/lib/callmeter/healthcheck.sh"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/lib/callmeter/entrypoint.sh"]
CMD ["serve"]
