# simjoin in a container: Debian 12, the CLI and the library installed under
# /opt/simjoin, no compilers in the final image.
#   docker build -t simjoin .
#   docker build --build-arg CUDA=1 -t simjoin:cuda .   # CUDA backend (Debian's non-free
#                                                         # CUDA 11.8 toolkit; run with --gpus all)
#   docker build --build-arg PLOT=1 -t simjoin:plot .   # with `sweep --plot` (Debian 12's
#                                                         # python3-matplotlib pulls in g++: +1.2 GB)
#   docker run --rm --network none -u "$(id -u)" -v /srv/data:/data simjoin \
#       join --corpus /data/corpus.h5 --threshold 31 --out /data/pairs.h5
# scripts/docker-check.sh builds the image and runs a small gen + join in it.
ARG CUDA=0

FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# The build packages and FAISS (built from Debian's source package, a long
# step) in a layer of their own, kept while the sources change and shared by
# both variants (FAISS is built without GPU support): ARG CUDA comes after it.
COPY scripts/setup.sh scripts/
RUN SIMJOIN_DEPS_ONLY=1 ./scripts/setup.sh
ARG CUDA
# contrib and non-free for the CUDA toolkit, as a file of its own (whatever
# form the base image's own apt sources take).
RUN if [ "$CUDA" = 1 ]; then \
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        > /etc/apt/sources.list.d/simjoin-non-free.sources && \
      apt-get update && apt-get install -y --no-install-recommends nvidia-cuda-toolkit; \
    fi
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSIMJOIN_BUILD_TESTS=OFF \
      -DSIMJOIN_CUDA=$([ "$CUDA" = 1 ] && echo ON || echo OFF) \
      -DSIMJOIN_FAISS_ROOT=/src/build/_deps/faiss -DCMAKE_INSTALL_PREFIX=/opt/simjoin && \
    cmake --build build -j"$(nproc)" && cmake --install build
# The runtime packages are the ones the installed binary and library link
# against (dpkg-shlibdeps; first alternative, no versions): runtime.txt.
RUN mkdir -p /tmp/shlibs/debian && cd /tmp/shlibs && \
    printf 'Source: simjoin\n\nPackage: simjoin\nArchitecture: any\n' > debian/control && \
    dpkg-shlibdeps -O /opt/simjoin/bin/simjoin /opt/simjoin/lib/libsimjoin.so.* 2>/dev/null \
      | sed 's/^shlibs:Depends=//' | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' | sort -u \
      > /opt/runtime.txt && \
    cat /opt/runtime.txt && test -s /opt/runtime.txt

FROM debian:12-slim
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /opt/runtime.txt /tmp/runtime.txt
# PLOT=1: python3-matplotlib for `sweep --plot` (share/simjoin/plot_sweep.py).
# Off by default: in Debian 12 it depends on python3-fonttools -> python3-scipy
# -> python3-pythran -> g++ and libboost-dev, and this image has no compilers.
# CUDA: the CUDA runtime is linked statically and libcuda comes from the
# host's driver (docker run --gpus all); the vector backend dlopens cuBLAS as
# libcublas.so, here Debian's libcublas11 (non-free).
ARG CUDA
ARG PLOT=0
RUN if [ "$CUDA" = 1 ]; then \
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        > /etc/apt/sources.list.d/simjoin-non-free.sources && echo libcublas11 >> /tmp/runtime.txt; \
    fi && \
    if [ "$PLOT" = 1 ]; then echo python3-matplotlib >> /tmp/runtime.txt; fi && \
    apt-get update && \
    apt-get install -y --no-install-recommends $(cat /tmp/runtime.txt) && \
    if [ "$CUDA" = 1 ]; then \
      ln -s libcublas.so.11 /usr/lib/x86_64-linux-gnu/libcublas.so; \
    fi && rm -rf /var/lib/apt/lists/* /tmp/runtime.txt
COPY --from=build /opt/simjoin /opt/simjoin
ENV PATH=/opt/simjoin/bin:$PATH MPLCONFIGDIR=/tmp/matplotlib
RUN useradd --system --no-create-home simjoin
USER simjoin
WORKDIR /data
ENTRYPOINT ["simjoin"]
CMD ["--help"]
