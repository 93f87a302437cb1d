# dmdviz app image: docker build -t dmdviz . && docker run -p 7860:7860 dmdviz
# CPU only. Shipped checkpoints and the MNIST test split are inside, so it serves with no network; Hub repo ids
# load when run with -e HF_HUB_OFFLINE=0 (see README, Deploy).
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# torch first, from the CPU index: requirements.txt's torch==2.13.0 is then already met
# and PyPI's CUDA build (several GB) is never pulled.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Hugging Face Spaces run containers as UID 1000; everything written lives under its home, or
# under /data when the Space has persistent storage (runs and the sample cache: dmdviz.settings).
RUN useradd --create-home --uid 1000 user \
    && install -d -o 1000 -g 1000 /home/user/app
USER 1000
ENV HOME=/home/user \
    HF_HOME=/home/user/.cache/huggingface \
    GRADIO_TEMP_DIR=/home/user/.cache/gradio \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HF_HUB_OFFLINE=1
WORKDIR /home/user/app
# The shipped checkpoints and data (about 60 MB) change least: copied first, so a code edit
# rebuilds only the small layers after them.
COPY --chown=1000:1000 checkpoints ./checkpoints
COPY --chown=1000:1000 data ./data
COPY --chown=1000:1000 app.py ./
COPY --chown=1000:1000 dmdviz ./dmdviz
# The slowest default views' samples (the mnist-unet pair file and family, ~20 MB, ~30 s of one
# CPU thread), written now so that a first visitor reads them; the app samples the same without.
RUN mkdir -p "$HF_HOME" "$GRADIO_TEMP_DIR" runs \
    && python -m dmdviz.web.prefill checkpoints/samples

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/' % os.environ.get('GRADIO_SERVER_PORT', '7860'), timeout=8)"]
# Python turns SIGINT into KeyboardInterrupt even as PID 1, so Gradio closes cleanly.
STOPSIGNAL SIGINT
CMD ["python", "app.py"]
