# One image for the api, the workers and the migration step (see docker-compose.yml).
#
# CPU (default):  docker build -t pixseek .
# GPU variant:    docker build -t pixseek:gpu --build-arg BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04 \
#                   --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 .
#                 then run the worker with `gpus: all` (compose) or `--gpus all`, and
#                 PIXSEEK_DEVICE=cuda. The api can stay on the CPU image: it embeds only queries.
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIXSEEK_DATA_DIR=/data \
    PIXSEEK_MODEL_CACHE_DIR=/models \
    PIXSEEK_HOST=0.0.0.0

# The CUDA base images carry no Python: install it there (a no-op on python:3.11-slim).
# Tesseract (English) serves OCR when PIXSEEK_OCR__ENABLED=true; add tesseract-ocr-<lang> for others.
# postgresql-client: pg_dump and pg_restore for `pixseek backup` / `pixseek restore` of a PostgreSQL catalog.
RUN if ! command -v python3 >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends python3.11 python3-pip curl tesseract-ocr postgresql-client \
      && ln -sf /usr/bin/python3.11 /usr/local/bin/python && rm -rf /var/lib/apt/lists/*; \
    else \
      apt-get update && apt-get install -y --no-install-recommends curl tesseract-ocr postgresql-client \
      && rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /app
# torch first, from the index that matches the variant, so the layer is cached across code edits.
RUN python -m pip install --index-url "${TORCH_INDEX}" torch torchvision
COPY pyproject.toml README.md alembic.ini ./
COPY pixseek ./pixseek
COPY ingest ./ingest
COPY index ./index
COPY search ./search
COPY api ./api
RUN python -m pip install ".[postgres,s3,ocr]"

RUN useradd --create-home --uid 1000 pixseek && mkdir -p /data /models && chown pixseek /data /models
USER pixseek
VOLUME ["/data", "/models"]
EXPOSE 8000
ENTRYPOINT ["pixseek"]
CMD ["serve"]
