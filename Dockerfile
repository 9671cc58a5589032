FROM python:3.11-slim-bookworm
WORKDIR /app
# A CJK font: pages and screenshots rendered in the container show Chinese.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY hotline hotline
COPY routing routing
COPY rooms rooms
COPY signaling signaling
COPY media media
COPY recordings recordings
COPY cases cases
COPY agent_console agent_console
COPY bench bench
RUN pip install --no-cache-dir .
ENV HOTLINE_HOST=0.0.0.0 HOTLINE_PORT=8080 HOTLINE_DATA_DIR=/var/lib/hotline
EXPOSE 8080
CMD ["hotline", "serve"]
