# simjoin in a container: Debian 12, the CLI and the library installed under
# /opt/simjoin, no compilers in the final image.
#   docker build -t simjoin .
#   docker build --build-arg CUDA=1 -t simjoin:cuda .   # CUDA backend (Debian's non-free
#                                                         # CUDA 11.8 toolkit; run with --gpus all)
#   docker run --rm --network none -u "$(id -u)" -v /srv/data:/data simjoin \
#       join --corpus /data/corpus.h5 --threshold 31 --out /data/pairs.h5
ARG CUDA=0

FROM debian:12 AS build
ARG CUDA
ENV DEBIAN_FRONTEND=noninteractive
RUN if [ "$CUDA" = 1 ]; then \
      sed -i 's/^Components: main$/Components: main contrib non-free/' /etc/apt/sources.list.d/debian.sources && \
      apt-get update && apt-get install -y --no-install-recommends nvidia-cuda-toolkit; \
    fi
WORKDIR /src
COPY . .
RUN SIMJOIN_CUDA=$([ "$CUDA" = 1 ] && echo ON || echo OFF) ./scripts/setup.sh && \
    cmake -S . -B build -DSIMJOIN_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/opt/simjoin && \
    cmake --build build -j"$(nproc)" && cmake --install build

FROM debian:12-slim
ARG CUDA
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends \
      libhdf5-103-1 libgomp1 libopenblas0 liblapack3 libssl3 libopenmpi3 \
      python3-matplotlib && \
    if [ "$CUDA" = 1 ]; then \
      sed -i 's/^Components: main$/Components: main contrib non-free/' /etc/apt/sources.list.d/debian.sources && \
      apt-get update && apt-get install -y --no-install-recommends libcublas11; \
    fi && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/simjoin /opt/simjoin
ENV PATH=/opt/simjoin/bin:$PATH LD_LIBRARY_PATH=/opt/simjoin/lib
RUN useradd --system --no-create-home simjoin
USER simjoin
WORKDIR /data
ENTRYPOINT ["simjoin"]
CMD ["--help"]
