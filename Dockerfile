# hopstream image: receiver, worker, sink and the one-shot `topics` / `migrate` commands are
# the same image with another command (see docker-compose.yml).
# Pinned by version tag (no digest: pin one with `docker pull` + `docker inspect` if your
# policy requires it). Python's minor version is the one the test suite runs (3.11).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Non-root, with a fixed uid so host-side files (the offers secret) can be made readable to
# it alone. DATA_DIR holds the receiver's spool and the worker's RocksDB tables.
RUN useradd --create-home --uid 10001 hopstream \
    && mkdir -p /var/lib/hopstream \
    && chown hopstream /var/lib/hopstream

WORKDIR /app

# Dependencies first, from the lock (every package pinned, transitive ones included), so
# that this layer is cached across code changes and an image built later installs the
# same versions. tests/deploy/test_dockerfile.py checks the lock against pyproject.toml.
COPY deploy/requirements.lock ./requirements.lock
RUN pip install --no-deps -r requirements.lock

COPY pyproject.toml README.md ./
COPY hopstream ./hopstream
COPY services ./services
COPY streams ./streams
COPY schemas ./schemas
COPY simulator ./simulator
# --no-deps: everything is already installed from the lock; nothing may float here.
RUN pip install --no-deps . && pip check

USER hopstream
ENV HOPSTREAM_DATA_DIR=/var/lib/hopstream
CMD ["hopstream", "--help"]
