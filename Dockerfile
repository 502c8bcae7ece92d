# cxrecon in a container: `cxrecon reconcile` (controller mode) or any other cxrecon command,
# as a non-root user. deploy/kubernetes/ runs it; .github/workflows/image.yml builds it (and
# pushes ghcr.io/OWNER/REPO:VERSION on a version tag); hadolint checks it in .ci/run.
#   docker build -t cxrecon .  &&  docker run --rm cxrecon --help

# Stage 1: the wheel of this repository, exactly as tests/controller/test_deploy_image.py builds it.
FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler/ reconciler/
COPY schemas/ schemas/
RUN pip wheel --no-cache-dir --no-deps . -w /dist

# Stage 2: the runtime. git for the controller's `git pull`, ssh for a deploy key.
FROM python:3.11.14-slim-bookworm
# Package versions are not pinned: Debian stable only ships security fixes, and a pinned
# version disappears from the archive at the next one, breaking the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 cxrecon \
    && useradd --system --uid 10001 --gid cxrecon --home-dir /home/cxrecon --create-home \
        --shell /usr/sbin/nologin cxrecon
# With the `notify` extra (Apprise): the controller sends `notifications:` from cxrecon.yaml.
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    pip install --no-cache-dir --disable-pip-version-check "$(ls /dist/cxrecon-*.whl)[notify]"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# cxrecon keeps local state in .cxrecon/ here (mount a volume on a read-only root).
WORKDIR /home/cxrecon
USER 10001:10001
# The controller's --listen port (/healthz, /readyz, /metrics, /status).
EXPOSE 9108
ENTRYPOINT ["cxrecon"]
CMD ["--help"]
