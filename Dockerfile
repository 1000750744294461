# syntax=docker/dockerfile:1
# argo-admission webhook server image.
#
#   docker build -t argo-admission:0.1.0 .
#
# Stage 1 builds wheels for the package and its dependencies; stage 2 installs them into a
# clean python:3.11-slim with no compiler or build tools, and runs as the non-root user
# 10001 (the Helm chart's runAsUser). The root filesystem can be read-only: the server writes
# only to /tmp (an emptyDir in the chart). The wheels are bind-mounted (BuildKit), never
# copied, so no layer keeps them.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY admission ./admission
COPY policies ./policies
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN groupadd --system --gid 10001 argo-admission \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/argo-admission --create-home \
      --shell /usr/sbin/nologin argo-admission
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels argo-admission \
 && argo-admission --version
USER 10001:10001
WORKDIR /home/argo-admission
EXPOSE 8443
ENTRYPOINT ["argo-admission"]
CMD ["serve"]
