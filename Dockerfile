# hopstream image: receiver, worker and sink are the same image with another command.
FROM python:3.11.7-slim-bookworm
RUN useradd --create-home --uid 10001 hopstream && mkdir -p /var/lib/hopstream \
    && chown hopstream /var/lib/hopstream
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hopstream ./hopstream
COPY services ./services
COPY streams ./streams
COPY schemas ./schemas
RUN pip install --no-cache-dir .
USER hopstream
ENV HOPSTREAM_DATA_DIR=/var/lib/hopstream
ENTRYPOINT []
CMD ["hopstream", "--help"]
