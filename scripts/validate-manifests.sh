#!/usr/bin/env bash
# Validates every Kubernetes manifest under deploy/k3s/ against the API
# schemas of the Kubernetes version K3s runs in the seed (v1.30), offline,
# with kubernetes-validate (PyPI; the JSON schemas of each Kubernetes
# release are bundled in the package, nothing is fetched when it runs).
# `cargo xtask test` runs it; by hand: `bash scripts/validate-manifests.sh`.
#
# - Strict: a field the schema does not know (a typo such as `periodSecond`)
#   is an error, as the API server's strict field validation makes it.
# - A resource whose kind and apiVersion have no schema in that release (a
#   removed API such as apps/v1beta1, a misspelt kind) is an error; the tool
#   itself only warns about those.
# - The Gatekeeper resources (ConstraintTemplate, and the constraint kinds
#   the templates in deploy/k3s define) are custom resources, which
#   Kubernetes' schemas do not describe. They are checked here instead: the
#   template's own fields, and each constraint against its template (its
#   kind is one a template defines, its `spec.parameters` validate against
#   the template's openAPIV3Schema, as Gatekeeper validates them).
#
# The tool lives in a virtual environment under the target folder
# (installed from PyPI on first use, pinned). Exits non-zero, with a line
# per problem, when anything does not validate.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
kubernetes=${FRAMECHAIN_K8S_VERSION:-1.30.0}
pin=kubernetes-validate==1.37.0
venv=$target/kubernetes-validate-venv

if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("kubernetes-validate") != sys.argv[1])' \
  "${pin#*==}" 2>/dev/null; then
  echo "validate-manifests: installing $pin into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" || {
    echo "validate-manifests: FAIL: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  "$venv/bin/pip" install -q --disable-pip-version-check "$pin" || {
    echo "validate-manifests: FAIL: pip install $pin failed" >&2
    exit 1
  }
fi

mapfile -t manifests < <(find "$root/deploy/k3s" -type f \( -name '*.yaml' -o -name '*.yml' \) | sort)
((${#manifests[@]})) || {
  echo "validate-manifests: FAIL: no manifests under $root/deploy/k3s" >&2
  exit 1
}

"$venv/bin/python" - "$kubernetes" "$root" "${manifests[@]}" <<'EOF'
import os
import sys

import jsonschema
import kubernetes_validate.utils as kv

version, root, files = sys.argv[1], sys.argv[2], sys.argv[3:]
problems = []
checked = 0
templates = {}    # constraint kind -> the template's openAPIV3Schema
constraints = []  # (file, resource)

for path in files:
    name = os.path.relpath(path, root)
    try:
        resources = kv.resources_from_file(path)
    except SystemExit as error:  # how the tool reports unparsable YAML
        problems.append(f"{name}: {error}")
        continue
    if not resources:
        problems.append(f"{name}: no Kubernetes resource in the file")
    for resource in resources:
        if not isinstance(resource, dict) or not all(
            isinstance(resource.get(key), str) for key in ("apiVersion", "kind")
        ):
            problems.append(f"{name}: a document without apiVersion and kind")
            continue
        api, kind = resource["apiVersion"], resource["kind"]
        what = f"{name}: {kind} {resource.get('metadata', {}).get('name', '?')}"
        checked += 1
        if api == "templates.gatekeeper.sh/v1" and kind == "ConstraintTemplate":
            spec = resource.get("spec", {})
            crd_kind = spec.get("crd", {}).get("spec", {}).get("names", {}).get("kind")
            targets = spec.get("targets", [])
            if not isinstance(crd_kind, str) or not crd_kind:
                problems.append(f"{what}: spec.crd.spec.names.kind missing")
                continue
            if resource.get("metadata", {}).get("name") != crd_kind.lower():
                problems.append(f"{what}: metadata.name must be the lowercased kind {crd_kind.lower()!r} (Gatekeeper requires it)")
            if not targets or not all(isinstance(t.get("rego"), str) and t.get("target") for t in targets):
                problems.append(f"{what}: every spec.targets entry needs target and rego")
            schema = spec["crd"]["spec"].get("validation", {}).get("openAPIV3Schema", {"type": "object"})
            try:
                jsonschema.Draft7Validator.check_schema(schema)
            except jsonschema.SchemaError as error:
                problems.append(f"{what}: openAPIV3Schema is not a valid schema: {error.message}")
                continue
            templates[crd_kind] = schema
            print(f"validate-manifests: {what}: Gatekeeper template for kind {crd_kind} (checked here, not a Kubernetes schema)")
            continue
        if api.startswith("constraints.gatekeeper.sh/"):
            constraints.append((what, resource))
            continue
        try:
            found = kv.validate(resource, version, strict=True)
            print(f"validate-manifests: {what}: valid against Kubernetes {found} (strict)")
        except kv.SchemaNotFoundError as error:
            problems.append(f"{what}: {error.message} (a removed or misspelt API)")
        except kv.ValidationError as error:
            # The tool's error carries jsonschema's (copied attributes).
            path_text = ".".join(str(part) for part in error.absolute_path) or "(top)"
            problems.append(f"{what}: {path_text}: {error.message}")
        except kv.VersionNotSupportedError:
            problems.append(f"kubernetes-validate has no schemas for Kubernetes {version}")
            break

for what, resource in constraints:
    kind = resource["kind"]
    if resource["apiVersion"] not in ("constraints.gatekeeper.sh/v1beta1", "constraints.gatekeeper.sh/v1"):
        problems.append(f"{what}: unknown constraint API version {resource['apiVersion']}")
        continue
    if kind not in templates:
        problems.append(f"{what}: no ConstraintTemplate under deploy/k3s defines kind {kind}")
        continue
    spec = resource.get("spec", {})
    action = spec.get("enforcementAction", "deny")
    if action not in ("deny", "dryrun", "warn"):
        problems.append(f"{what}: enforcementAction {action!r} is not deny, dryrun or warn")
    errors = sorted(
        jsonschema.Draft7Validator(templates[kind]).iter_errors(spec.get("parameters", {})),
        key=lambda error: list(error.absolute_path),
    )
    for error in errors:
        path_text = ".".join(str(part) for part in error.absolute_path) or "(top)"
        problems.append(f"{what}: spec.parameters.{path_text}: {error.message}")
    if not errors:
        print(f"validate-manifests: {what}: parameters valid against its ConstraintTemplate")

sys.stdout.flush()
for problem in problems:
    print(f"validate-manifests: FAIL: {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"validate-manifests: {checked} resources in {len(files)} files valid (Kubernetes {version})")
EOF
