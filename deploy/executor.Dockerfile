# An executor: slots of worker processes that train with PyTorch. Two variants of one image:
#   docker build -f deploy/executor.Dockerfile -t nestor/executor:0.1.0-cuda .                        (GPU, default)
#   docker build -f deploy/executor.Dockerfile --build-arg VARIANT=cpu -t nestor/executor:0.1.0-cpu .  (CPU only)
ARG VARIANT=cuda

# CPU: plain Python; torch from PyTorch's CPU wheel index (PyPI's Linux wheel carries CUDA, gigabytes of it).
FROM python:3.11-slim AS base-cpu
ENV TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/nestor

# CUDA: NVIDIA's runtime image (driver libraries come from the node); torch built for the same CUDA.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS base-cuda
ENV TORCH_INDEX=https://download.pytorch.org/whl/cu128 \
    CUDA_DEVICE_ORDER=PCI_BUS_ID
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/nestor

FROM base-${VARIANT}
ENV PATH=/opt/nestor/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY constraints.txt ./
# torch first, from the variant's index, at the version the constraints pin; then the SDK and the executor.
RUN pip install --index-url "$TORCH_INDEX" "$(grep -E '^torch==' constraints.txt)"
COPY client_sdk ./client_sdk
COPY executor ./executor
RUN pip install -c constraints.txt ./client_sdk ./executor \
    && rm -rf /src

RUN useradd --uid 10001 --user-group --no-create-home nestor \
    && mkdir -p /artifacts && chown nestor:nestor /artifacts
USER 10001
WORKDIR /artifacts

# 50052: the gRPC API the controller dials; 8081: plaintext gRPC health checks only; 9090: Prometheus metrics.
EXPOSE 50052 8081 9090
# On SIGTERM the executor stops taking trials, asks running ones to stop (they are requeued) and exits.
ENTRYPOINT ["nestor-executor"]
CMD ["--host", "0.0.0.0", "--port", "50052", "--health-port", "8081", "--metrics-port", "9090", \
     "--artifact-dir", "/artifacts"]
