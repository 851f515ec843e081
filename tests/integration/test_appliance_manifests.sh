#!/bin/sh
# Kubernetes manifests and the compose file parse as YAML and carry what a cluster (or Docker) needs, checked
# across files the way the API server and kubelet would join them: hugepage requests equal to limits with a
# matching HugePages volume, probes on /health at the port the worker listens on, the token from a Secret
# where the entrypoint looks for it, the SR-IOV resource tied to its network attachment and to the variable the
# entrypoint reads, DPDK capabilities, the gateway's --db on the PVC and its certificate from a Secret, the
# Service selecting the gateway pods; compose privileged on the host network with hugepages, /sys/bus/pci and
# the token env_file.
set -u
cd "$(dirname "$0")/../.." || exit 1
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
$PY -c 'import yaml' 2>/dev/null || { echo "SKIP: python3-yaml missing (appliance/deps.sh installs it)"; exit 77; }
exec $PY - <<'PYEOF'
import glob, json, os, re, sys
import yaml

fails = []
def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        fails.append(what)

docs = {}
for f in sorted(glob.glob("appliance/k8s/*.yaml")):
    try:
        loaded = [d for d in yaml.safe_load_all(open(f)) if d is not None]
    except yaml.YAMLError as e:
        check(False, f"{f} parses: {e}")
        continue
    check(bool(loaded), f"{f} parses ({len(loaded)} documents)")
    for d in loaded:
        if d.get("kind") == "Kustomization":
            for r in d.get("resources", []):
                check(os.path.exists(os.path.join("appliance/k8s", r)), f"kustomization resource {r} exists")
            continue
        ok = all(k in d for k in ("apiVersion", "kind", "metadata")) and d["metadata"].get("name")
        check(bool(ok), f"{f}: {d.get('kind')} has apiVersion, kind, metadata.name")
        docs[(d["kind"], d["metadata"]["name"])] = d

def get(kind, name):
    d = docs.get((kind, name))
    check(d is not None, f"{kind}/{name} defined")
    return d or {}

# ---- worker DaemonSet ----------------------------------------------------------------------------------
ds = get("DaemonSet", "callmeter-worker")
pod = ds.get("spec", {}).get("template", {}).get("spec", {})
tmeta = ds.get("spec", {}).get("template", {}).get("metadata", {})
check(ds.get("spec", {}).get("selector", {}).get("matchLabels", {}).items() <= tmeta.get("labels", {}).items(),
      "worker selector matches the pod template labels")
c = (pod.get("containers") or [{}])[0]
env = {e["name"]: e for e in c.get("env", [])}
res = c.get("resources", {})
req, lim = res.get("requests", {}), res.get("limits", {})
huge = [k for k in req if k.startswith("hugepages-")]
check(len(huge) >= 1, f"worker requests hugepages ({huge})")
for k in huge:
    check(req.get(k) == lim.get(k), f"{k}: request equals limit (Kubernetes requires it)")
check(req.get("cpu") == lim.get("cpu") and req.get("memory") == lim.get("memory") and
      re.fullmatch(r"\d+", str(req.get("cpu", ""))) is not None,
      "worker is Guaranteed QoS with whole CPUs (exclusive cores under the static CPU manager)")
vols = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
hp_media = {v["emptyDir"]["medium"] for v in vols.values() if "emptyDir" in v and "medium" in v["emptyDir"]}
for k in huge:
    check(f"HugePages-{k.split('-', 1)[1]}" in hp_media, f"a HugePages-{k.split('-', 1)[1]} volume backs {k}")
# Probes on /health at the worker's HEALTH_PORT.
ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
health_port = int(env.get("HEALTH_PORT", {}).get("value", 3030))
for probe in ("livenessProbe", "startupProbe"):
    g = c.get(probe, {}).get("httpGet", {})
    port = ports.get(g.get("port"), g.get("port"))
    check(g.get("path") == "/health" and port == health_port, f"worker {probe}: GET /health on {health_port}")
rp = c.get("readinessProbe", {})
cmd = rp.get("exec", {}).get("command", [])
check(bool(cmd) and cmd[0] == "/usr/lib/callmeter/healthcheck.sh" and "--ready" in cmd,
      "worker readinessProbe: healthcheck.sh --ready (status ONLINE)")
# Token: Secret volume mounted where WORKER_TOKEN_DIR points; WORKER_NAME from the node name.
tok_dir = env.get("WORKER_TOKEN_DIR", {}).get("value")
tok_mount = [m for m in mounts.values() if m["mountPath"] == tok_dir]
tok_vol = vols.get(tok_mount[0]["name"], {}) if tok_mount else {}
secret_name = tok_vol.get("secret", {}).get("secretName")
check(secret_name is not None, f"worker token directory {tok_dir} is a Secret volume ({secret_name})")
example = docs.get(("Secret", secret_name), {})
check(example.get("type") == "Opaque" and bool(example.get("stringData")),
      f"the token Secret {secret_name} has an example with per-worker keys")
check(env.get("WORKER_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
      "WORKER_NAME is the node name (the token's key)")
check("WORKER_TOKEN" not in env or "valueFrom" in env["WORKER_TOKEN"], "no token written in the manifest")
# ConfigMap: exists and provides the gateway address.
for ef in c.get("envFrom", []):
    cm = get("ConfigMap", ef["configMapRef"]["name"])
    check("CLOUD_URL" in cm.get("data", {}) and "CALLMETER_EAL_ARGS" in cm.get("data", {}),
          "worker ConfigMap sets CLOUD_URL and CALLMETER_EAL_ARGS")
    ca = cm.get("data", {}).get("CALLMETER_CA_FILE", "")
    check(any(ca.startswith(m["mountPath"] + "/") for m in mounts.values()), f"CALLMETER_CA_FILE {ca} is mounted")
# SR-IOV: requested resource == NAD resourceName == the PCIDEVICE variable the entrypoint reads.
nets = [n.strip() for n in tmeta.get("annotations", {}).get("k8s.v1.cni.cncf.io/networks", "").split(",") if n.strip()]
check(len(nets) >= 1, f"worker pods attach networks {nets}")
sriov = None
for n in nets:
    nad = get("NetworkAttachmentDefinition", n)
    conf = json.loads(nad.get("spec", {}).get("config", "{}"))
    if conf.get("type") == "sriov":
        sriov = nad
rname = (sriov or {}).get("metadata", {}).get("annotations", {}).get("k8s.v1.cni.cncf.io/resourceName")
check(rname is not None and req.get(rname) == lim.get(rname) == "1", f"SR-IOV resource {rname} requested once")
if rname:
    var = "PCIDEVICE_" + re.sub(r"[^A-Za-z0-9]", "_", rname).upper()
    check(env.get("CALLMETER_PORT_ENV", {}).get("value") == var, f"CALLMETER_PORT_ENV names {var}")
# DPDK privileges: privileged, or the capabilities it needs.
sc = c.get("securityContext", {})
caps = set(sc.get("capabilities", {}).get("add", []))
check(sc.get("privileged") is True or {"IPC_LOCK", "SYS_RESOURCE", "NET_RAW"} <= caps,
      f"worker may pin memory and raise its memlock limit (caps {sorted(caps)})")
check(pod.get("terminationGracePeriodSeconds", 30) >= 60, "workers get time to drain on SIGTERM")

# ---- gateway --------------------------------------------------------------------------------------------
gw = get("Deployment", "callmeter-gateway")
gpod = gw.get("spec", {}).get("template", {}).get("spec", {})
glabels = gw.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
gc = (gpod.get("containers") or [{}])[0]
args = gc.get("args", [])
def arg(flag):
    return args[args.index(flag) + 1] if flag in args and args.index(flag) + 1 < len(args) else None
check(args[:2] == ["callmeter-gateway", "serve"], "gateway runs 'callmeter-gateway serve' through the entrypoint")
gvols = {v["name"]: v for v in gpod.get("volumes", [])}
def backing(path):
    for m in gc.get("volumeMounts", []):
        if path and path.startswith(m["mountPath"].rstrip("/") + "/"):
            return gvols.get(m["name"], {})
    return {}
pvc = backing(arg("--db")).get("persistentVolumeClaim", {}).get("claimName")
check(pvc is not None and ("PersistentVolumeClaim", pvc) in docs, f"gateway --db {arg('--db')} is on PVC {pvc}")
for flag in ("--cert", "--key"):
    s = backing(arg(flag)).get("secret", {}).get("secretName")
    check(s is not None, f"gateway {flag} {arg(flag)} comes from Secret {s}")
listen = arg("--listen") or ""
gports = {p["name"]: p["containerPort"] for p in gc.get("ports", [])}
check(listen.rsplit(":", 1)[-1].isdigit() and int(listen.rsplit(":", 1)[-1]) in gports.values(),
      f"gateway listens ({listen}) on its declared container port")
check(gw.get("spec", {}).get("replicas") == 1 and gw.get("spec", {}).get("strategy", {}).get("type") == "Recreate",
      "one gateway on its store, never two during a rollout")
check("livenessProbe" in gc and "readinessProbe" in gc, "gateway has liveness and readiness probes")
svc = get("Service", "callmeter-gateway")
check(svc.get("spec", {}).get("selector", {}).items() <= glabels.items() and svc.get("spec", {}).get("selector"),
      "gateway Service selects the gateway pods")
for p in svc.get("spec", {}).get("ports", []):
    check(p.get("targetPort") in gports or p.get("targetPort") in gports.values(), f"Service port {p.get('port')} targets a container port")
cm = docs.get(("ConfigMap", "callmeter-worker"), {})
url = cm.get("data", {}).get("CLOUD_URL", "")
check(url.startswith(f"{svc.get('metadata', {}).get('name')}.") and url.endswith(":%d" % svc["spec"]["ports"][0]["port"]),
      f"workers dial the gateway Service ({url})")

# ---- compose --------------------------------------------------------------------------------------------
comp = yaml.safe_load(open("appliance/docker-compose.yml"))
w = comp.get("services", {}).get("worker", {})
check(w.get("privileged") is True and w.get("network_mode") == "host", "compose worker: privileged, host network")
vols = [v.split(":")[0] + ":" + v.split(":")[1] for v in w.get("volumes", [])]
check("/dev/hugepages:/dev/hugepages" in vols and "/sys/bus/pci:/sys/bus/pci" in vols,
      "compose worker mounts /dev/hugepages and /sys/bus/pci")
check(w.get("env_file") == ["./worker.env"], "compose reads the token from env_file worker.env")
hc = w.get("healthcheck", {}).get("test", [])
dockerfile = open("Dockerfile").read()
check(len(hc) >= 2 and hc[1] in dockerfile and "HEALTHCHECK" in dockerfile,
      "compose and Dockerfile health checks run the same script")
check(w.get("build", {}).get("context") == ".." and os.path.exists(os.path.join("appliance", w["build"]["context"], "Dockerfile")),
      "compose builds the top-level Dockerfile")
check("chmod 600" in open("appliance/docker-compose.yml").read() and "chmod 600" in open("appliance/worker.env.sample").read(),
      "the token file's chmod 600 is spelled out")
g = comp.get("services", {}).get("gateway", {})
gcmd = g.get("command", [])
check(gcmd[:2] == ["callmeter-gateway", "serve"] and all(f in gcmd for f in ("--cert", "--key", "--listen", "--db")),
      "compose gateway: callmeter-gateway serve --cert --key --listen --db")
db = gcmd[gcmd.index("--db") + 1] if "--db" in gcmd else ""
gvol = [v for v in g.get("volumes", []) if db.startswith(v.split(":")[1].rstrip("/") + "/")]
check(bool(gvol) and gvol[0].split(":")[0] in comp.get("volumes", {}), f"compose gateway store {db} on a named volume")
check(g.get("healthcheck", {}).get("disable") is True, "compose gateway does not inherit the worker's health check")

if fails:
    print(f"test_appliance_manifests: {len(fails)} failed")
    sys.exit(1)
print("test_appliance_manifests: all passed")
PYEOF
