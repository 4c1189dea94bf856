#!/usr/bin/env python3
"""Invariants of the rendered Nazer chart, read from `helm template` output.

    helm template nazer helm/nazer ... | python3 invariants.py [--values FILE]... [--min-replicas N] [-]
    python3 invariants.py --self-test rendered.yaml   # every check must catch a broken render

Checks: each of the five services has a Deployment, a Service and a PodDisruptionBudget; every
service container has startup, liveness (/healthz) and readiness (/readyz) probes; every container
(the migration Job's too) has cpu and memory requests and limits and runs non-root, read-only, with
no privilege escalation and every capability dropped; Ingress paths are disjoint across services
and never reach /metrics, /healthz or /readyz; no Deployment scaled by KEDA also has an HPA;
terminationGracePeriodSeconds exceeds the shutdown grace (plus any preStop sleep); the migration
Job is a pre-install,pre-upgrade hook; every Secret and ConfigMap a pod reads is rendered (a hook's
by an earlier hook) or is named as the operators' own (an existingSecret, the reference data's
ConfigMap and Secret). Needs PyYAML only.
"""

import argparse
import collections
import copy
import sys

import yaml

SERVICES = ["intake", "routing", "deadline-timer", "violation-referral", "notification"]
FORBIDDEN_PATHS = ["/metrics", "/healthz", "/readyz"]
DEFAULT_SHUTDOWN_GRACE = 25  # NAZER__HTTP__SHUTDOWN_GRACE_SECS when nothing sets it
DEFAULT_TGPS = 30  # Kubernetes' terminationGracePeriodSeconds when unset
COMPONENT = "app.kubernetes.io/component"


def load(text):
    return [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind")]


def name_of(obj):
    return obj.get("metadata", {}).get("name", "?")


def component_of(obj):
    return (obj.get("metadata", {}).get("labels") or {}).get(COMPONENT)


def is_hook(obj):
    return "helm.sh/hook" in (obj.get("metadata", {}).get("annotations") or {})


def hook_weight(obj):
    return int((obj.get("metadata", {}).get("annotations") or {}).get("helm.sh/hook-weight", "0"))


def segments(path):
    return [s for s in path.split("/") if s]


def prefix_overlap(a, b):
    """Whether two Prefix paths can match one request (Kubernetes matches element by element)."""
    sa, sb = segments(a), segments(b)
    n = min(len(sa), len(sb))
    return sa[:n] == sb[:n]


def existing_secrets_in(values):
    """(kind, name) of the objects a values file says the operators manage: every existingSecret,
    every imagePullSecret, and the reference data's ConfigMap and Secret."""
    names = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "existingSecret" and isinstance(value, str) and value:
                    names.add(("Secret", value))
                elif key == "imagePullSecrets" and isinstance(value, list):
                    names.update(("Secret", item["name"]) for item in value if isinstance(item, dict) and item.get("name"))
                elif key == "referenceData" and isinstance(value, dict):
                    names.update(("ConfigMap" if k == "configMap" else "Secret", v) for k, v in value.items() if v)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(values)
    return names


class Checker:
    def __init__(self, docs, external_secrets=(), min_replicas=0, services=SERVICES):
        self.docs = docs
        self.external = set(external_secrets)
        self.min_replicas = min_replicas
        self.services = services
        self.failures = []
        self.counts = collections.Counter()

    def fail(self, message):
        self.failures.append(message)

    def of_kind(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def run(self):
        self.check_services()
        self.check_pods()
        self.check_trigger_authentications()
        self.check_ingress()
        self.check_autoscalers()
        self.check_migration_job()
        return self.failures

    # Each service has a Deployment, a Service and a PDB.
    def check_services(self):
        for kind in ["Deployment", "Service", "PodDisruptionBudget"]:
            present = {component_of(d) for d in self.of_kind(kind)}
            for service in self.services:
                self.counts["service objects"] += 1
                if service not in present:
                    self.fail(f"{service}: no {kind} rendered")

    def pod_workloads(self):
        for d in self.docs:
            if d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
                yield d, d["spec"]["template"]["spec"]

    def check_pods(self):
        configmaps = {name_of(d): d for d in self.of_kind("ConfigMap")}
        secrets = {name_of(d): d for d in self.of_kind("Secret")}
        for workload, pod in self.pod_workloads():
            label = f"{workload['kind']} {name_of(workload)}"
            self.counts["pod templates"] += 1
            if pod.get("automountServiceAccountToken") is not False:
                self.fail(f"{label}: mounts a service-account token (automountServiceAccountToken is not false)")
            containers = pod.get("containers", []) + pod.get("initContainers", [])
            for container in containers:
                where = f"{label} container {container['name']}"
                self.counts["containers"] += 1
                self.check_security(where, pod.get("securityContext") or {}, container.get("securityContext") or {})
                self.check_resources(where, container.get("resources") or {})
                if workload["kind"] == "Deployment":
                    self.check_probes(where, container)
            if workload["kind"] == "Deployment":
                self.check_grace(label, pod, configmaps)
            self.check_references(label, workload, pod, configmaps, secrets)

    def check_security(self, where, pod_sc, sc):
        def effective(key):
            return sc.get(key, pod_sc.get(key))

        self.counts["security contexts"] += 1
        if effective("runAsNonRoot") is not True:
            self.fail(f"{where}: runAsNonRoot is not true")
        if effective("runAsUser") in (0, None):
            self.fail(f"{where}: runs as uid {effective('runAsUser')} (want a non-root uid such as 65532)")
        if sc.get("readOnlyRootFilesystem") is not True:
            self.fail(f"{where}: the root filesystem is writable (readOnlyRootFilesystem)")
        if sc.get("allowPrivilegeEscalation") is not False:
            self.fail(f"{where}: allowPrivilegeEscalation is not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            self.fail(f"{where}: capabilities are not dropped (drop: [ALL])")
        if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
            self.fail(f"{where}: seccompProfile is not RuntimeDefault")

    def check_resources(self, where, resources):
        self.counts["resource blocks"] += 1
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if not (resources.get(section) or {}).get(resource):
                    self.fail(f"{where}: no {section}.{resource}")

    def check_probes(self, where, container):
        self.counts["probe sets"] += 1
        expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"}
        for probe, path in expected.items():
            got = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
            if got != path:
                self.fail(f"{where}: {probe} is {'missing' if got is None else 'on ' + got} (want GET {path})")

    def check_grace(self, label, pod, configmaps):
        """The processes drain within NAZER__HTTP__SHUTDOWN_GRACE_SECS after SIGTERM, which comes
        after any preStop sleep; Kubernetes must wait longer than both."""
        self.counts["grace periods"] += 1
        tgps = pod.get("terminationGracePeriodSeconds", DEFAULT_TGPS)
        for container in pod["containers"]:
            grace = DEFAULT_SHUTDOWN_GRACE
            for source in container.get("envFrom") or []:
                cm = configmaps.get((source.get("configMapRef") or {}).get("name"))
                if cm and "NAZER__HTTP__SHUTDOWN_GRACE_SECS" in (cm.get("data") or {}):
                    grace = int(cm["data"]["NAZER__HTTP__SHUTDOWN_GRACE_SECS"])
            for env in container.get("env") or []:
                if env["name"] == "NAZER__HTTP__SHUTDOWN_GRACE_SECS" and "value" in env:
                    grace = int(env["value"])
            sleep = (((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
            if not tgps > grace + sleep:
                self.fail(
                    f"{label}: terminationGracePeriodSeconds {tgps} is not above the shutdown grace "
                    f"{grace}s + preStop sleep {sleep}s of container {container['name']}"
                )

    def check_references(self, label, workload, pod, configmaps, secrets):
        """Every Secret and ConfigMap a pod reads exists: rendered by the chart (for a hook, as a
        hook of lower weight, since the release's own objects come after the pre-install hooks) or
        named as the operators' own."""
        hook = is_hook(workload)
        refs = []  # (kind, name, key or None)
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            for env in container.get("env") or []:
                value_from = env.get("valueFrom") or {}
                if "secretKeyRef" in value_from:
                    refs.append(("Secret", value_from["secretKeyRef"]["name"], value_from["secretKeyRef"]["key"]))
                if "configMapKeyRef" in value_from:
                    ref = value_from["configMapKeyRef"]
                    refs.append(("ConfigMap", ref["name"], ref["key"]))
            for source in container.get("envFrom") or []:
                if "secretRef" in source:
                    refs.append(("Secret", source["secretRef"]["name"], None))
                if "configMapRef" in source:
                    refs.append(("ConfigMap", source["configMapRef"]["name"], None))
        for volume in pod.get("volumes") or []:
            if "secret" in volume:
                refs.append(("Secret", volume["secret"]["secretName"], None))
            if "configMap" in volume:
                refs.append(("ConfigMap", volume["configMap"]["name"], None))
            for source in (volume.get("projected") or {}).get("sources") or []:
                if "secret" in source:
                    refs.append(("Secret", source["secret"]["name"], None))
                if "configMap" in source:
                    refs.append(("ConfigMap", source["configMap"]["name"], None))
        for pull in pod.get("imagePullSecrets") or []:
            refs.append(("Secret", pull["name"], None))
        for kind, name, key in refs:
            self.counts["secret and config references"] += 1
            rendered = (secrets if kind == "Secret" else configmaps).get(name)
            if rendered is None:
                if (kind, name) in self.external:
                    continue
                self.fail(f"{label}: reads {kind} {name}, which is neither rendered nor named as the operators' own")
                continue
            if key is not None:
                keys = set((rendered.get("data") or {}).keys()) | set((rendered.get("stringData") or {}).keys())
                if key not in keys:
                    self.fail(f"{label}: reads key {key} of {kind} {name}, which has no such key")
            if hook and not (is_hook(rendered) and hook_weight(rendered) < hook_weight(workload)):
                self.fail(
                    f"{label}: a hook reads {kind} {name}, which does not exist yet when a pre-install "
                    "hook runs (make it an earlier hook or give the Job its settings directly)"
                )

    def check_trigger_authentications(self):
        """KEDA reads the broker URL from a Secret too."""
        secrets = {name_of(d) for d in self.of_kind("Secret")}
        for trigger_auth in self.of_kind("TriggerAuthentication"):
            for ref in trigger_auth["spec"].get("secretTargetRef") or []:
                self.counts["secret and config references"] += 1
                if ref["name"] not in secrets and ("Secret", ref["name"]) not in self.external:
                    self.fail(f"TriggerAuthentication {name_of(trigger_auth)}: reads Secret {ref['name']}, "
                              "which is neither rendered nor named as the operators' own")

    def check_ingress(self):
        service_names = {name_of(d): component_of(d) for d in self.of_kind("Service")}
        owners = []  # (path, service)
        for ingress in self.of_kind("Ingress"):
            for rule in ingress["spec"].get("rules") or []:
                for path in (rule.get("http") or {}).get("paths") or []:
                    backend = path["backend"]["service"]["name"]
                    self.counts["ingress paths"] += 1
                    if backend not in service_names:
                        self.fail(f"Ingress path {path['path']}: backend Service {backend} is not rendered")
                    if path.get("pathType") != "Prefix":
                        self.fail(f"Ingress path {path['path']}: pathType {path.get('pathType')} (want Prefix)")
                    for forbidden in FORBIDDEN_PATHS:
                        if prefix_overlap(path["path"], forbidden):
                            self.fail(f"Ingress path {path['path']} (to {backend}) exposes {forbidden}")
                    owners.append((path["path"], service_names.get(backend, backend)))
        for i, (path_a, svc_a) in enumerate(owners):
            for path_b, svc_b in owners[i + 1 :]:
                if svc_a != svc_b and prefix_overlap(path_a, path_b):
                    self.fail(f"Ingress paths overlap across services: {path_a} ({svc_a}) and {path_b} ({svc_b})")

    def check_autoscalers(self):
        hpa_targets = {d["spec"]["scaleTargetRef"]["name"]: d for d in self.of_kind("HorizontalPodAutoscaler")}
        keda_targets = {d["spec"]["scaleTargetRef"]["name"]: d for d in self.of_kind("ScaledObject")}
        for target in keda_targets:
            self.counts["KEDA-scaled deployments"] += 1
            if target in hpa_targets:
                self.fail(f"Deployment {target}: has both a KEDA ScaledObject and an HPA (they would fight)")
        for deployment in self.of_kind("Deployment"):
            name = name_of(deployment)
            autoscaler = keda_targets.get(name) or hpa_targets.get(name)
            if autoscaler is not None and "replicas" in deployment["spec"]:
                self.fail(f"Deployment {name}: sets replicas although an autoscaler owns the count")
            if self.min_replicas:
                if name in keda_targets:
                    floor = keda_targets[name]["spec"].get("minReplicaCount", 0)
                elif name in hpa_targets:
                    floor = hpa_targets[name]["spec"].get("minReplicas", 1)
                else:
                    floor = deployment["spec"].get("replicas", 1)
                if floor < self.min_replicas:
                    self.fail(f"Deployment {name}: may run {floor} replica(s), fewer than {self.min_replicas}")

    def check_migration_job(self):
        jobs = [j for j in self.of_kind("Job") if component_of(j) == "migrate"]
        self.counts["migration jobs"] += len(jobs)
        if len(jobs) != 1:
            self.fail(f"expected one migration Job, found {len(jobs)}")
        for job in jobs:
            annotations = job["metadata"].get("annotations") or {}
            hooks = {h.strip() for h in annotations.get("helm.sh/hook", "").split(",")}
            if not {"pre-install", "pre-upgrade"} <= hooks:
                self.fail(f"Job {name_of(job)}: helm.sh/hook is {sorted(hooks)} (want pre-install,pre-upgrade)")
            if "before-hook-creation" not in annotations.get("helm.sh/hook-delete-policy", ""):
                self.fail(f"Job {name_of(job)}: hook-delete-policy lacks before-hook-creation (a rerun would clash)")
            if job["spec"].get("backoffLimit") is None or job["spec"].get("activeDeadlineSeconds") is None:
                self.fail(f"Job {name_of(job)}: needs backoffLimit and activeDeadlineSeconds")
            pod = job["spec"]["template"]["spec"]
            steps = pod.get("initContainers", []) + pod["containers"]
            args = steps[0].get("args") or []
            if args[:1] != ["migrate"]:
                self.fail(f"Job {name_of(job)}: does not run `nazer migrate` first (args {args})")
            for step in steps[1:]:
                if (step.get("args") or [])[:1] != ["import"]:
                    self.fail(f"Job {name_of(job)}: {step['name']} after the migration is not `nazer import`")

    def summary(self):
        return ", ".join(f"{count} {what}" for what, count in sorted(self.counts.items()))


# --- self-test: each mutation of a good render must be caught -------------------------------


def first(docs, kind, component=None):
    for d in docs:
        if d["kind"] == kind and (component is None or component_of(d) == component):
            return d
    raise LookupError(f"no {kind} {component or ''} in the render")


def container(docs, kind, component):
    return first(docs, kind, component)["spec"]["template"]["spec"]["containers"][0]


def mutations():
    """(what is broken, expected words in a failure, mutation)."""

    def drop_readiness(docs):
        del container(docs, "Deployment", "routing")["readinessProbe"]

    def drop_limits(docs):
        del container(docs, "Deployment", "intake")["resources"]["limits"]["memory"]

    def run_as_root(docs):
        container(docs, "Deployment", "notification")["securityContext"]["runAsUser"] = 0

    def writable_root(docs):
        container(docs, "Deployment", "deadline-timer")["securityContext"]["readOnlyRootFilesystem"] = False

    def escalation(docs):
        container(docs, "Job", "migrate")["securityContext"]["allowPrivilegeEscalation"] = True

    def keep_capabilities(docs):
        container(docs, "Deployment", "intake")["securityContext"]["capabilities"] = {}

    def job_without_limits(docs):
        del container(docs, "Job", "migrate")["resources"]["limits"]

    def metrics_path(docs):
        paths = first(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"]
        paths.append(copy.deepcopy(paths[0]) | {"path": "/metrics"})

    def overlapping_paths(docs):
        # /api/v1 to routing would take intake's /api/v1/messages too.
        paths = first(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"]
        routing = next(p for p in paths if p["backend"]["service"]["name"].endswith("-routing"))
        paths.append(copy.deepcopy(routing) | {"path": "/api/v1"})

    def hpa_with_keda(docs):
        scaled = first(docs, "ScaledObject")
        docs.append({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "extra"},
            "spec": {"scaleTargetRef": {"name": scaled["spec"]["scaleTargetRef"]["name"]}, "maxReplicas": 2},
        })

    def short_grace(docs):
        first(docs, "Deployment", "violation-referral")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 10

    def not_a_hook(docs):
        del first(docs, "Job", "migrate")["metadata"]["annotations"]["helm.sh/hook"]

    def missing_secret(docs):
        env = container(docs, "Deployment", "intake")["env"]
        env.append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "nowhere", "key": "x"}}})

    def job_reads_release_configmap(docs):
        job = container(docs, "Job", "migrate")
        configmap = first(docs, "ConfigMap")
        job.setdefault("envFrom", []).append({"configMapRef": {"name": name_of(configmap)}})

    def missing_pdb(docs):
        docs.remove(first(docs, "PodDisruptionBudget", "violation-referral"))

    def keda_reads_missing_secret(docs):
        first(docs, "TriggerAuthentication")["spec"]["secretTargetRef"][0]["name"] = "nowhere"

    def replicas_beside_autoscaler(docs):
        target = first(docs, "ScaledObject")["spec"]["scaleTargetRef"]["name"]
        next(d for d in docs if d["kind"] == "Deployment" and name_of(d) == target)["spec"]["replicas"] = 2

    def import_before_migrate(docs):
        job = first(docs, "Job", "migrate")["spec"]["template"]["spec"]
        job["initContainers"] = [copy.deepcopy(job["containers"][0]) | {"name": "import", "args": ["import", "/x"]}]

    return [
        ("the import before the migration", "does not run `nazer migrate` first", import_before_migrate),
        ("a service without readinessProbe", "readinessProbe is missing", drop_readiness),
        ("a container without a memory limit", "no limits.memory", drop_limits),
        ("a container running as root", "runs as uid 0", run_as_root),
        ("a writable root filesystem", "root filesystem is writable", writable_root),
        ("the Job allowing privilege escalation", "allowPrivilegeEscalation", escalation),
        ("capabilities kept", "capabilities are not dropped", keep_capabilities),
        ("the Job without limits", "no limits.cpu", job_without_limits),
        ("/metrics on the Ingress", "exposes /metrics", metrics_path),
        ("overlapping Ingress paths", "overlap across services", overlapping_paths),
        ("an HPA beside a ScaledObject", "both a KEDA ScaledObject and an HPA", hpa_with_keda),
        ("a grace period below the shutdown grace", "terminationGracePeriodSeconds 10", short_grace),
        ("the migration Job not a hook", "helm.sh/hook", not_a_hook),
        ("a Secret nobody renders", "neither rendered nor named as the operators' own", missing_secret),
        ("the hook reading the release's ConfigMap", "does not exist yet when a pre-install", job_reads_release_configmap),
        ("a service without PDB", "no PodDisruptionBudget", missing_pdb),
        ("KEDA reading a Secret nobody renders", "TriggerAuthentication", keda_reads_missing_secret),
        ("replicas set beside an autoscaler", "sets replicas although", replicas_beside_autoscaler),
    ]


def reference_data_mutations():
    """Broken renders of a Job that imports reference data (migrations.referenceData set)."""

    def import_step_runs_something_else(docs):
        job = first(docs, "Job", "migrate")["spec"]["template"]["spec"]
        job["containers"][0]["args"] = ["up"]

    def reference_data_from_nowhere(docs):
        job = first(docs, "Job", "migrate")["spec"]["template"]["spec"]
        volume = next(v for v in job["volumes"] if "projected" in v)
        volume["projected"]["sources"][0]["configMap"]["name"] = "nowhere"

    return [
        ("a step after the migration that is not the import", "is not `nazer import`", import_step_runs_something_else),
        ("reference data from a ConfigMap nobody manages", "reads ConfigMap nowhere", reference_data_from_nowhere),
    ]


def self_test(docs, external, cases=None):
    cases = mutations() if cases is None else cases
    baseline = Checker(docs, external).run()
    if baseline:
        print("self-test: the unbroken render already fails:", *baseline, sep="\n  ", file=sys.stderr)
        return 1
    missed = 0
    for what, expected, mutate in cases:
        broken = copy.deepcopy(docs)
        try:
            mutate(broken)
        except LookupError as error:
            print(f"self-test: cannot apply '{what}': {error}", file=sys.stderr)
            missed += 1
            continue
        failures = Checker(broken, external).run()
        if any(expected in f for f in failures):
            print(f"  caught: {what}")
        else:
            missed += 1
            print(f"  MISSED: {what} (failures: {failures})", file=sys.stderr)
    print(f"self-test: {len(cases) - missed} of {len(cases)} broken renders caught")
    return 1 if missed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="?", default="-", help="rendered manifests (default: stdin)")
    parser.add_argument("--values", action="append", default=[], help="values file whose existingSecrets and reference data are the operators' own")
    parser.add_argument("--min-replicas", type=int, default=0, help="every Deployment keeps at least this many")
    parser.add_argument("--self-test", action="store_true", help="check that each check catches a broken render")
    parser.add_argument("--reference-data", action="store_true",
                        help="with --self-test: break the reference-data import of a render that has one")
    args = parser.parse_args()

    text = sys.stdin.read() if args.manifests == "-" else open(args.manifests, encoding="utf-8").read()
    docs = load(text)
    external = set()
    for path in args.values:
        with open(path, encoding="utf-8") as f:
            external |= existing_secrets_in(yaml.safe_load(f) or {})

    if args.self_test:
        return self_test(docs, external, reference_data_mutations() if args.reference_data else None)

    checker = Checker(docs, external, args.min_replicas)
    failures = checker.run()
    kinds = collections.Counter(d["kind"] for d in docs)
    print(f"invariants: {len(docs)} objects ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})")
    print(f"invariants: checked {checker.summary()}")
    for failure in failures:
        print(f"  FAIL {failure}", file=sys.stderr)
    print(f"invariants: {'all hold' if not failures else str(len(failures)) + ' failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
