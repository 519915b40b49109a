"""cluster/: the launcher YAML against Ray's own schema, the KubeRay manifests against the CRD schemas, the image's pins."""

import copy
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
KUBERAY = Path(__file__).with_name("kuberay-v1.7.0")


def ray_launcher_schema() -> dict:
    """The schema `ray up` validates with, as shipped inside the installed ray package."""
    import ray.autoscaler

    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def test_aws_launcher_config_validates_against_rays_schema():
    config = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
    jsonschema.validate(config, ray_launcher_schema())
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"]["CPU"] == 0 and "InstanceMarketOptions" not in head["node_config"]  # on-demand head
    gpu_types = {t["node_config"]["InstanceType"].split(".")[0] for t in types.values() if t["resources"].get("GPU")}
    assert gpu_types == {"g5", "g6e", "p4d", "p5"}
    assert any(t["node_config"].get("InstanceMarketOptions", {}).get("MarketType") == "spot" for t in types.values())
    for node_type in types.values():
        assert "IamInstanceProfile" in node_type["node_config"]
        if node_type is not head:
            assert 0 <= node_type["min_workers"] <= node_type["max_workers"]
    starts = " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert "--object-store-memory" in starts and "--object-spilling-directory" in starts


def test_the_launcher_schema_check_catches_a_mistake():
    config = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
    config["available_node_types"]["gpu_g5"]["resources"]["GPU"] = 0.5  # resources must be integers
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, ray_launcher_schema())


def strict(schema):
    """The CRD schema as `kubectl apply --validate=strict` reads it: unknown fields are errors.

    (The API server would silently prune them, so a misspelt field such as `shutdownAfterJobFinish`
    would be dropped without a word.) Objects marked x-kubernetes-preserve-unknown-fields stay open."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def validate_resource(path: Path, kind: str):
    manifest = yaml.safe_load(path.read_text())
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == kind
    schema = strict(json.loads((KUBERAY / f"{kind.lower()}.v1.schema.json").read_text()))
    jsonschema.Draft7Validator(schema).validate(manifest)
    return manifest, schema


def test_raycluster_validates_against_the_kuberay_crd():
    cluster, _ = validate_resource(CLUSTER / "kuberay" / "raycluster.yaml", "RayCluster")
    (gpu,) = cluster["spec"]["workerGroupSpecs"]
    limits = gpu["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1 and gpu["minReplicas"] <= gpu["maxReplicas"]
    assert cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert "redisAddress" in cluster["spec"]["gcsFaultToleranceOptions"]


def test_rayjob_validates_against_the_kuberay_crd_and_cleans_up_after_itself():
    job, schema = validate_resource(CLUSTER / "kuberay" / "rayjob.yaml", "RayJob")
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0 and spec["backoffLimit"] >= 1
    assert spec["entrypoint"].startswith("python -m musiscene_core tag ")
    misspelt = copy.deepcopy(job)
    misspelt["spec"]["shutdownAfterJobFinish"] = misspelt["spec"].pop("shutdownAfterJobFinishes")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(misspelt)


def test_vendored_crd_schemas_name_their_source():
    source = (KUBERAY / "SOURCE.md").read_text()
    assert "ray-project/kuberay" in source and "v1.7.0" in source


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    return pins


def test_the_image_installs_from_the_projects_pins():
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    installs = [line for line in re.sub(r"\\\n", " ", dockerfile).splitlines() if "pip install" in line]
    commands = [part for line in installs for part in line.split("&&") if "pip install" in part]
    for command in commands:
        if "--upgrade pip" in command:
            continue
        assert "-c /tmp/gpu-constraints.txt" in command, command  # every dependency install is constrained
        assert "==" not in command, command  # versions come from the constraints file, never the Dockerfile
    assert "sh cluster/gpu-constraints.sh constraints.txt > /tmp/gpu-constraints.txt" in dockerfile

    cpu = _pins((REPO / "constraints.txt").read_text())
    derived = subprocess.run(
        ["sh", str(CLUSTER / "gpu-constraints.sh"), str(REPO / "constraints.txt")], capture_output=True, text=True, check=True
    ).stdout
    gpu = _pins(derived)
    assert gpu["torch"] == cpu["torch"].split("+")[0]  # the CUDA build of the tested version
    assert "faiss-cpu" not in gpu and gpu["faiss-gpu-cu12"] == cpu["faiss-gpu-cu12"]
    assert {k: v for k, v in gpu.items() if k != "torch"} == {k: v for k, v in cpu.items() if k not in ("torch", "faiss-cpu")}
    assert all(re.sub(r"[<>=!~ \[].*", "", req) in gpu for req in _gpu_extra())  # the gpu extra is pinned too


def _gpu_extra() -> list[str]:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
