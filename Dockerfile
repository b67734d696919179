# FireTwin API image (used by docker-compose.yml). The database runs in the `db` service.
FROM python:3.12-slim-bookworm
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends gdal-bin postgresql-client \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir uv && uv pip install --system --no-cache -r requirements.lock
COPY gis gis
COPY services services
COPY layers layers
COPY routing routing
COPY tiles tiles
RUN uv pip install --system --no-cache --no-deps .
EXPOSE 8000
CMD ["firetwin", "serve", "--host", "0.0.0.0", "--port", "8000"]
