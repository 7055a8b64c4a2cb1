# rayop's operator image: `docker build -t rayop/rayop:0.1.0 .`
# Runs as a non-root user with a read-only root filesystem (see manifests/operator/deployment.yaml).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
COPY informers ./informers
COPY workqueue ./workqueue
COPY kubesim ./kubesim
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 65532:65532
ENTRYPOINT ["rayop"]
CMD ["run", "--in-cluster", "--leader-elect"]
