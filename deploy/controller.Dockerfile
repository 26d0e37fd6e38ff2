# The controller: gRPC API, study engine, store and executor pool. Slim: no torch, it never trains.
#   docker build -f deploy/controller.Dockerfile -t nestor/controller:0.1.0 .     (from the repository root)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY constraints.txt ./
COPY client_sdk ./client_sdk
COPY controller ./controller
# The SDK and the controller only; the constraints pin every version `make` tests with.
RUN python -m pip install -c constraints.txt ./client_sdk ./controller \
    && rm -rf /src

# An unprivileged user; /var/lib/nestor holds the SQLite store, /artifacts the shared checkpoints.
RUN useradd --uid 10001 --user-group --no-create-home nestor \
    && mkdir -p /var/lib/nestor /artifacts && chown nestor:nestor /var/lib/nestor /artifacts
USER 10001
WORKDIR /var/lib/nestor

# 50051: the gRPC API; 8081: plaintext gRPC health checks only; 9090: Prometheus metrics.
EXPOSE 50051 8081 9090
# SIGTERM (docker stop, Kubernetes) stops the controller cleanly: it is PID 1 and handles it.
ENTRYPOINT ["nestor-controller"]
CMD ["--host", "0.0.0.0", "--port", "50051", "--health-port", "8081", "--metrics-port", "9090", \
     "--store", "sqlite:////var/lib/nestor/nestor.db", "--artifact-dir", "/artifacts"]
