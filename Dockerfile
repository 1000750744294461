# syntax=docker/dockerfile:1
# argo-admission webhook server image.
#
#   docker build --build-arg COMMIT="$(git rev-parse HEAD)" -t argo-admission:0.1.0 .
#
# Every input is pinned: the base image by digest, every Python dependency by version and
# sha256 in requirements.lock (pip-compile --generate-hashes from pyproject.toml; regenerate it
# with the command in its header when pyproject's dependencies change), installed with
# --require-hashes. Stage 1 builds this package's own wheel with the setuptools and wheel the
# base image ships (--no-build-isolation: nothing unpinned is downloaded); stage 2 installs the
# locked dependencies and that wheel into a clean python:3.11-slim with no compiler or build
# tools, checks them with `pip check`, and runs as the non-root user 10001 (the Helm chart's
# runAsUser). The root filesystem can be read-only: the server writes only to /tmp (an emptyDir
# in the chart). The lock and the wheels are bind-mounted (BuildKit), never copied, so no layer
# keeps them.
#
# The base: python:3.11-slim (Python 3.11.15 on Debian trixie, built 2026-08-05), the digest of
# its multi-platform image index as Docker's official-images documentation publishes it:
# github.com/docker-library/repo-info, repos/python/remote/3.11-slim.md at commit 2477d553d2fd
# ("docker pull python@sha256:90744cff..."). To move it, take the new digest from that file.

FROM python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY admission ./admission
COPY policies ./policies
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff
ARG COMMIT=unknown
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    ARGO_ADMISSION_COMMIT=${COMMIT}
RUN groupadd --system --gid 10001 argo-admission \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/argo-admission --create-home \
      --shell /usr/sbin/nologin argo-admission
RUN --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --require-hashes --no-deps -r /tmp/requirements.lock \
 && pip install --no-deps --no-index /wheels/*.whl \
 && pip check \
 && argo-admission --version
USER 10001:10001
WORKDIR /home/argo-admission
EXPOSE 8443
ENTRYPOINT ["argo-admission"]
CMD ["serve"]
