"""Turns a CustomResourceDefinition's openAPIV3Schema into a JSON Schema that
check-jsonschema can validate a custom resource against, strictly: objects
that declare properties refuse unknown ones (as the API server's pruning
would drop them silently), int-or-string fields take either, nullable fields
take null. The same conversion as the community CRD catalogs.

    python3 crd2schema.py CRD.yaml OUT_DIR   # writes OUT_DIR/<kind>-<version>.json

deploy/containers/check uses it when FIDUCIA_K8S_CRDS names a directory of
upstream CRD files (deploy/k8s/README.md: "Checking against the full CRDs").
"""

import json
import sys
from pathlib import Path

import yaml


def strict(node):
    """The JSON Schema of one OpenAPI v3 schema node (recursively)."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = strict(value)
        elif key.startswith("x-kubernetes-") or key == "nullable":
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def convert(crd_path: Path, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for crd in yaml.safe_load_all(crd_path.read_text()):
        if not crd or crd.get("kind") != "CustomResourceDefinition":
            continue
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            props = schema.setdefault("properties", {})
            props["apiVersion"] = {"const": f"{group}/{version['name']}"}
            props["kind"] = {"const": kind}
            props["metadata"] = {"type": "object"}
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind"})
            path = out_dir / f"{kind.lower()}-{version['name']}.json"
            path.write_text(json.dumps(schema, indent=1, sort_keys=True))
            written.append(path)
    return written


if __name__ == "__main__":
    for written in convert(Path(sys.argv[1]), Path(sys.argv[2])):
        print(written)
