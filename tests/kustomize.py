"""The part of kustomize that deploy/kubernetes uses, so the manifests can be checked on any machine.

Supports `resources` (files and directories), `namespace`, `images` and `patches`
(strategic-merge files; lists of objects merge by `name`). tests/test_deploy.py
compares the result with `kubectl kustomize` wherever kubectl is installed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]
CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
                            "CustomResourceDefinition", "PriorityClass"})
KNOWN_FIELDS = frozenset({"apiVersion", "kind", "resources", "namespace", "images", "patches"})


class KustomizeError(ValueError):
    pass


def load_documents(path: Path) -> list[Resource]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge as far as these manifests need it: maps merge, lists of named maps merge by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (isinstance(base, list) and isinstance(patch, list) and base and patch
            and all(isinstance(x, dict) and "name" in x for x in [*base, *patch])):
        # Like kustomize: items only the patch has come first, in its order; then the base's, merged.
        patched = {x["name"]: x for x in patch}
        known = {x["name"] for x in base}
        return ([copy.deepcopy(x) for x in patch if x["name"] not in known]
                + [merge(x, patched[x["name"]]) if x["name"] in patched else dict(x) for x in base])
    return copy.deepcopy(patch)


def pod_specs(resource: Resource) -> Iterator[dict[str, Any]]:
    spec = resource.get("spec", {})
    if "template" in spec:
        yield spec["template"]["spec"]


def set_image(resource: Resource, name: str, new_name: str | None, new_tag: str | None) -> None:
    for pod in pod_specs(resource):
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            image_name, _, tag = container["image"].partition(":")
            if image_name == name:
                image = new_name or image_name
                tag = new_tag or tag
                container["image"] = f"{image}:{tag}" if tag else image


def build(directory: Path) -> list[Resource]:
    """The resources `kubectl kustomize directory` would print, in the order they were listed."""
    kfile = directory / "kustomization.yaml"
    k = yaml.safe_load(kfile.read_text())
    unknown = set(k) - KNOWN_FIELDS
    if unknown:
        raise KustomizeError(f"{kfile}: fields this checker does not know: {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in k.get("resources", []):
        path = (directory / entry).resolve()
        resources += build(path) if path.is_dir() else load_documents(path)
    for patch_entry in k.get("patches", []):
        for patch in load_documents(directory / patch_entry["path"]):
            key = (patch["kind"], patch["metadata"]["name"])
            matches = [i for i, r in enumerate(resources) if (r["kind"], r["metadata"]["name"]) == key]
            if len(matches) != 1:
                raise KustomizeError(f"{patch_entry['path']}: patch for {key} matches {len(matches)} resources")
            resources[matches[0]] = merge(resources[matches[0]], patch)
    for image in k.get("images", []):
        for r in resources:
            set_image(r, image["name"], image.get("newName"), image.get("newTag"))
    if namespace := k.get("namespace"):
        for r in resources:
            if r["kind"] not in CLUSTER_SCOPED:
                r.setdefault("metadata", {})["namespace"] = namespace
    return resources
