#!/usr/bin/env python3
"""Validates rendered manifests against Kubernetes' own OpenAPI schemas (kubernetes-validate,
strict: unknown fields are errors), for each Kubernetes version given.

    python3 validate.py -k 1.30.0 -k 1.37.0 rendered.yaml...

Custom resources have no schema there: the kinds in SKIPPED (KEDA's and the Prometheus
Operator's) are skipped by name and counted; any other unknown kind fails.
"""

import argparse
import collections
import os
import sys

import kubernetes_validate
import yaml

SKIPPED = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", "--kubernetes-version", action="append", required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    failures = 0
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict) and d.get("kind")]
        for version in args.kubernetes_version:
            valid = 0
            skipped = collections.Counter()
            for doc in docs:
                where = f"{doc['kind']} {doc.get('metadata', {}).get('name', '?')}"
                if (doc.get("apiVersion"), doc["kind"]) in SKIPPED:
                    skipped[doc["kind"]] += 1
                    continue
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                    valid += 1
                except kubernetes_validate.ValidationError as error:
                    failures += 1
                    at = "/".join(str(p) for p in error.absolute_path) or "(top)"
                    print(f"  INVALID {os.path.basename(path)} {where} for Kubernetes {version} at {at}: {error.message}", file=sys.stderr)
                except kubernetes_validate.SchemaNotFoundError:
                    failures += 1
                    print(f"  NO SCHEMA {os.path.basename(path)} {where} ({doc.get('apiVersion')}) for Kubernetes {version}", file=sys.stderr)
            skipped_text = ", ".join(f"{n} {k}" for k, n in sorted(skipped.items())) or "none"
            print(f"validate: {os.path.basename(path)} on Kubernetes {version}: {valid} valid; skipped (CRDs, no schema): {skipped_text}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
