# The web dashboard: the SDK and nestor-dashboard only (no controller, no torch).
#   docker build -f deploy/dashboard.Dockerfile -t nestor/dashboard:0.1.0 .     (from the repository root)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY constraints.txt ./
COPY client_sdk ./client_sdk
COPY dashboard ./dashboard
RUN python -m pip install -c constraints.txt ./client_sdk ./dashboard \
    && rm -rf /src

RUN useradd --uid 10001 --user-group --no-create-home nestor
USER 10001

# 8080: the dashboard (HTTP).
EXPOSE 8080
ENTRYPOINT ["nestor-dashboard"]
CMD ["--host", "0.0.0.0", "--port", "8080", "--controller", "nestor-controller:50051"]
