//! The manifests of `deploy/k3s/`: they parse and agree with each other,
//! and the Gatekeeper policy of `gatekeeper/` is evaluated on allowed
//! and rejected pods. The Rego is taken from the ConstraintTemplate as
//! Gatekeeper takes it, and evaluated with regorus (a Rego interpreter) on
//! the input Gatekeeper gives it: `{"review": {"object": ...}, "parameters":
//! ...}`. The pod specs are the Deployment of `deploy/k3s/deployment.yaml`
//! (a batch transcode) and the StatefulSet of
//! `deploy/k3s/serve-statefulset.yaml` (`framechain serve`), and variations
//! of them. The centre's manifests (`center-*.yaml`, Redis, PostgreSQL and
//! their NetworkPolicies) are checked by what they admit and where their
//! secrets come from.

use std::path::Path;

use serde_json::{Value, json};

fn repo_file(relative: &str) -> String {
    let path = framechain_test_support::workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("valid YAML")
}

/// The Rego of the ConstraintTemplate's admission target.
fn template_rego() -> String {
    let template = yaml(&repo_file("deploy/k3s/gatekeeper/constrainttemplate.yaml"));
    template["spec"]["targets"][0]["rego"]
        .as_str()
        .expect("the template has Rego")
        .to_owned()
}

/// The constraint's parameters.
fn constraint_parameters() -> Value {
    let constraint = yaml(&repo_file("deploy/k3s/gatekeeper/constraint.yaml"));
    constraint["spec"]["parameters"].clone()
}

/// The violation messages Gatekeeper would report for `object`.
fn violations(object: &Value, parameters: &Value) -> Vec<String> {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(true);
    engine
        .add_policy("constrainttemplate.rego".into(), template_rego())
        .expect("the Rego compiles");
    let input = json!({ "review": { "object": object }, "parameters": parameters });
    engine
        .set_input_json(&input.to_string())
        .expect("a JSON input");
    let result = engine
        .eval_rule("data.framechainpatientvideo.violation".into())
        .expect("the violation rule evaluates");
    let result: Value = serde_json::from_str(&result.to_json_str().expect("JSON")).expect("JSON");
    let mut messages: Vec<String> = result
        .as_array()
        .map(|set| {
            set.iter()
                .map(|violation| violation["msg"].as_str().expect("a msg").to_owned())
                .collect()
        })
        .unwrap_or_default();
    messages.sort();
    messages
}

fn deployment() -> Value {
    yaml(&repo_file("deploy/k3s/deployment.yaml"))
}

/// A bare Pod with the Deployment's pod template.
fn pod() -> Value {
    let template = deployment()["spec"]["template"].clone();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template["metadata"],
        "spec": template["spec"],
    })
}

fn annotations(object: &mut Value) -> &mut Value {
    if object["kind"] == "Pod" {
        &mut object["metadata"]["annotations"]
    } else {
        &mut object["spec"]["template"]["metadata"]["annotations"]
    }
}

#[test]
fn the_example_deployment_and_its_pod_are_allowed() {
    let parameters = constraint_parameters();
    assert_eq!(violations(&deployment(), &parameters), Vec::<String>::new());
    assert_eq!(violations(&pod(), &parameters), Vec::<String>::new());
}

#[test]
fn a_pipeline_without_redaction_is_rejected() {
    let parameters = constraint_parameters();
    for mut object in [deployment(), pod()] {
        annotations(&mut object)["framechain.io/pipeline-stages"] =
            json!("decode-h264,scale,encode-h264");
        let found = violations(&object, &parameters);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("the pipeline must redact"), "{found:?}");
    }
    let mut undeclared = pod();
    annotations(&mut undeclared)
        .as_object_mut()
        .unwrap()
        .remove("framechain.io/pipeline-stages");
    let found = violations(&undeclared, &parameters);
    assert!(found.iter().any(|m| m.contains("must redact")), "{found:?}");
}

#[test]
fn unencrypted_storage_is_rejected() {
    let parameters = constraint_parameters();
    let mut undeclared = deployment();
    annotations(&mut undeclared)["framechain.io/storage-encrypted"] = json!("false");
    let found = violations(&undeclared, &parameters);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("storage must be encrypted"), "{found:?}");

    let mut host_path = pod();
    host_path["spec"]["volumes"][1] =
        json!({ "name": "recordings", "hostPath": { "path": "/srv/recordings" } });
    let found = violations(&host_path, &parameters);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("\"recordings\" is a hostPath"),
        "{found:?}"
    );

    let mut disk = pod();
    disk["spec"]["volumes"][1] = json!({ "name": "scratch", "emptyDir": {} });
    let found = violations(&disk, &parameters);
    assert!(
        found[0].contains("\"scratch\" is on the node's disk"),
        "{found:?}"
    );

    let mut memory = pod();
    memory["spec"]["volumes"][1] = json!({ "name": "scratch", "emptyDir": { "medium": "Memory" } });
    assert_eq!(violations(&memory, &parameters), Vec::<String>::new());
}

#[test]
fn every_problem_is_reported_at_once() {
    let parameters = constraint_parameters();
    let mut bad = pod();
    bad["metadata"]["annotations"] = json!({});
    bad["spec"]["volumes"][1] = json!({ "name": "recordings", "hostPath": { "path": "/srv" } });
    assert_eq!(violations(&bad, &parameters).len(), 3);
}

#[test]
fn pods_without_patient_video_are_not_checked() {
    let parameters = constraint_parameters();
    let mut other = pod();
    other["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("framechain.io/patient-video");
    other["metadata"]["annotations"] = json!({});
    other["spec"]["volumes"][1] = json!({ "name": "x", "hostPath": { "path": "/srv" } });
    assert_eq!(violations(&other, &parameters), Vec::<String>::new());
}

#[test]
fn redacting_stages_are_a_parameter() {
    let mut own = pod();
    own["metadata"]["annotations"]["framechain.io/pipeline-stages"] =
        json!("decode-h264, stages/face-blur.wasm ,encode-h264");
    let found = violations(&own, &constraint_parameters());
    assert!(found[0].contains("must redact"), "{found:?}");
    let parameters = json!({ "redactingStages": ["redact", "stages/face-blur.wasm"] });
    assert_eq!(violations(&own, &parameters), Vec::<String>::new());
    // Without parameters the built-in redact stage is the default.
    assert_eq!(violations(&pod(), &Value::Null), Vec::<String>::new());
}

/// Every manifest parses and names what Kubernetes needs; the pieces agree
/// with each other (no API server can be run here for
/// `kubectl --dry-run=client`, which needs one for discovery).
#[test]
fn the_manifests_parse_and_agree() {
    let files = [
        "deploy/k3s/runtimeclass.yaml",
        "deploy/k3s/configmap.yaml",
        "deploy/k3s/deployment.yaml",
        "deploy/k3s/gatekeeper/constrainttemplate.yaml",
        "deploy/k3s/gatekeeper/constraint.yaml",
        "deploy/k3s/serve-configmap.yaml",
        "deploy/k3s/serve-statefulset.yaml",
        "deploy/k3s/serve-service.yaml",
        "deploy/k3s/serve-secret.example.yaml",
        "deploy/k3s/serve-keys.example.yaml",
        "deploy/k3s/serve-visits.yaml",
        "deploy/k3s/center-deployment.yaml",
        "deploy/k3s/center-service.yaml",
        "deploy/k3s/center-pdb.yaml",
        "deploy/k3s/center-secret.example.yaml",
        "deploy/k3s/center-migrate-job.yaml",
        "deploy/k3s/redis-statefulset.yaml",
        "deploy/k3s/redis-service.yaml",
        "deploy/k3s/redis-secret.example.yaml",
        "deploy/k3s/postgres-statefulset.yaml",
        "deploy/k3s/postgres-service.yaml",
        "deploy/k3s/postgres-secret.example.yaml",
        "deploy/k3s/postgres-init.yaml",
        "deploy/k3s/network-policy-redis.yaml",
        "deploy/k3s/network-policy-postgres.yaml",
    ];
    assert_eq!(
        files.len(),
        manifest_files().len(),
        "every manifest under deploy/k3s is in this list"
    );
    for file in files {
        let manifest = yaml(&repo_file(file));
        for key in ["apiVersion", "kind"] {
            assert!(manifest[key].is_string(), "{file}: no {key}");
        }
        assert!(manifest["metadata"]["name"].is_string(), "{file}: no name");
    }

    // The RuntimeClass's handler is the runtime config.toml.tmpl registers,
    // whose runtime_type names the shim binary.
    let runtime_class = yaml(&repo_file("deploy/k3s/runtimeclass.yaml"));
    assert_eq!(runtime_class["handler"], "framechain");
    let config = repo_file("deploy/k3s/config.toml.tmpl");
    assert!(
        config.contains("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.framechain]")
    );
    assert!(config.contains("runtime_type = \"io.containerd.framechain.v1\""));

    // The Deployment uses that class, selects its own pods, is placed by
    // location and region, and has requests and limits.
    let deployment = deployment();
    let spec = &deployment["spec"]["template"]["spec"];
    assert_eq!(spec["runtimeClassName"], runtime_class["metadata"]["name"]);
    assert!(selects(
        &deployment["spec"]["selector"],
        &deployment["spec"]["template"]["metadata"]["labels"]
    ));
    assert!(spec["nodeSelector"]["location"].is_string());
    assert!(spec["nodeSelector"]["region"].is_string());
    let resources = &spec["containers"][0]["resources"];
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                resources[kind][resource].is_string(),
                "no {kind}.{resource}"
            );
        }
    }

    // The ConfigMap's settings, and the pipeline file made from them is a
    // valid framechain pipeline that says the same and redacts, as the
    // Deployment declares for the policy.
    let config_map = yaml(&repo_file("deploy/k3s/configmap.yaml"));
    let data = &config_map["data"];
    assert_eq!(
        (
            &data["codec"],
            &data["bitrate"],
            &data["width"],
            &data["height"],
            &data["fps"]
        ),
        (
            &json!("h264"),
            &json!("2000k"),
            &json!("1920"),
            &json!("1080"),
            &json!("30")
        )
    );
    assert_eq!(
        spec["volumes"][0]["configMap"]["name"],
        config_map["metadata"]["name"]
    );
    let chain = framechain::ChainSpec::parse_pipeline_yaml(data["pipeline.yaml"].as_str().unwrap())
        .expect("the ConfigMap's pipeline file parses");
    let launch = chain.to_launch();
    for expected in [
        "encode-h264",
        "bitrate=2000k",
        "fps=30",
        "width=1920",
        "height=1080",
    ] {
        assert!(launch.contains(expected), "{launch} lacks {expected}");
    }
    let stages: Vec<&str> = chain
        .stages
        .iter()
        .map(|stage| stage.stage.as_str())
        .collect();
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["annotations"]["framechain.io/pipeline-stages"],
        stages.join(",")
    );
}

// `framechain serve` (serve-*.yaml): the Deployment, its Service, its
// pipeline and its tokens.

fn serve_statefulset() -> Value {
    yaml(&repo_file("deploy/k3s/serve-statefulset.yaml"))
}

/// A bare Pod with the serve StatefulSet's pod template.
fn serve_pod() -> Value {
    let template = serve_statefulset()["spec"]["template"].clone();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template["metadata"],
        "spec": template["spec"],
    })
}

#[test]
fn the_serve_statefulset_and_its_pod_are_allowed() {
    let parameters = constraint_parameters();
    let deployment = serve_statefulset();
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"]["framechain.io/patient-video"], "true",
        "the policy must apply to serve"
    );
    assert_eq!(violations(&deployment, &parameters), Vec::<String>::new());
    assert_eq!(violations(&serve_pod(), &parameters), Vec::<String>::new());
}

#[test]
fn a_serve_statefulset_without_redaction_is_refused() {
    let parameters = constraint_parameters();
    for mut object in [serve_statefulset(), serve_pod()] {
        annotations(&mut object)["framechain.io/pipeline-stages"] =
            json!("decode-h264,scale,encode-h264");
        let found = violations(&object, &parameters);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("the pipeline must redact"), "{found:?}");
    }
    // Dropping the declaration does not get around it.
    let mut undeclared = serve_statefulset();
    annotations(&mut undeclared)
        .as_object_mut()
        .unwrap()
        .remove("framechain.io/pipeline-stages");
    let found = violations(&undeclared, &parameters);
    assert!(found.iter().any(|m| m.contains("must redact")), "{found:?}");
}

/// The container's `args` with the kubelet's `$(VAR)` expansion of the
/// downward-API values and the Secret's password done by hand.
fn serve_container_args(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|arg| {
            arg.as_str()
                .expect("a string argument")
                .replace("$(NODE_IP)", "10.0.0.7")
                .replace("$(POD_NAME)", "framechain-serve-0")
                .replace("$(SITE)", "clinic-berlin-01")
                .replace("$(REDIS_PASSWORD)", "0123abcd")
        })
        .collect()
}

/// `args` parsed by `framechain center`'s own clap definition: a flag the
/// centre does not have, or one it needs and the manifest lacks, fails.
fn parse_center_args(args: &[String]) {
    let command = <framechain_center::CenterArgs as clap::Args>::augment_args(
        clap::Command::new("center").no_binary_name(true),
    );
    if let Err(error) = command.try_get_matches_from(args) {
        panic!("the centre's args {args:?}: {error}");
    }
}

#[test]
fn the_serve_manifests_agree() {
    let deployment = serve_statefulset();
    let template = &deployment["spec"]["template"];
    let spec = &template["spec"];
    let runtime_class = yaml(&repo_file("deploy/k3s/runtimeclass.yaml"));
    assert_eq!(spec["runtimeClassName"], runtime_class["metadata"]["name"]);
    assert!(selects(
        &deployment["spec"]["selector"],
        &template["metadata"]["labels"]
    ));
    // Host networking, so the advertised address (the node's) is where the
    // media port is, and the NODE_IP it names comes from the downward API.
    assert_eq!(spec["hostNetwork"], true);
    let container = &spec["containers"][0];
    assert_eq!(container["command"], json!(["serve"]));
    let node_ip = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|var| var["name"] == "NODE_IP")
        .expect("a NODE_IP variable");
    assert_eq!(
        node_ip["valueFrom"]["fieldRef"]["fieldPath"],
        "status.hostIP"
    );

    // The arguments are framechain serve's own (the shim parses them with
    // the same clap definition).
    let args = serve_container_args(container);
    let command = <framechain_serve::ServeArgs as clap::Args>::augment_args(
        clap::Command::new("serve").no_binary_name(true),
    );
    let matches = command
        .try_get_matches_from(&args)
        .unwrap_or_else(|error| panic!("the StatefulSet's args: {error}"));
    let serve: framechain_serve::ServeArgs =
        clap::FromArgMatches::from_arg_matches(&matches).expect("serve arguments");
    assert_eq!(
        serve.advertise.map(|ip| ip.to_string()).as_deref(),
        Some("10.0.0.7")
    );
    assert!(serve.http.ip().is_unspecified() && serve.media.ip().is_unspecified());
    assert!(serve.streams.is_empty(), "tokens belong in the Secret");

    // Ports and probes: the named ports are the ones the arguments bind.
    let ports = container["ports"].as_array().unwrap();
    let port = |name: &str| {
        ports
            .iter()
            .find(|port| port["name"] == name)
            .unwrap_or_else(|| panic!("no port {name}"))
    };
    assert_eq!(port("http")["containerPort"], serve.http.port());
    assert_eq!(port("http")["protocol"], "TCP");
    assert_eq!(port("media")["containerPort"], serve.media.port());
    assert_eq!(port("media")["protocol"], "UDP");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe}");
    }
    let resources = &container["resources"];
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                resources[kind][resource].is_string(),
                "no {kind}.{resource}"
            );
        }
    }
    // One call needs about a core: no more calls than cores.
    let cores: usize = resources["limits"]["cpu"]
        .as_str()
        .unwrap()
        .parse()
        .expect("whole cores");
    assert!(
        serve.max_sessions <= cores,
        "{} calls on {cores} cores",
        serve.max_sessions
    );

    // Mounts: the pipeline from the ConfigMap, the tokens from the Secret.
    let mount_of = |volume: &str| {
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|mount| mount["name"] == volume)
            .unwrap_or_else(|| panic!("no mount of {volume}"))["mountPath"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let volume = |name: &str| {
        spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|volume| volume["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
            .clone()
    };
    let config_map = yaml(&repo_file("deploy/k3s/serve-configmap.yaml"));
    let pipeline_volume = volume("pipeline");
    assert_eq!(
        pipeline_volume["configMap"]["name"],
        config_map["metadata"]["name"]
    );
    assert_eq!(
        serve.pipeline,
        Path::new(&mount_of("pipeline")).join(
            pipeline_volume["configMap"]["items"][0]["path"]
                .as_str()
                .unwrap()
        )
    );
    let secret = yaml(&repo_file("deploy/k3s/serve-secret.example.yaml"));
    let streams_volume = volume("streams");
    assert_eq!(
        streams_volume["secret"]["secretName"],
        secret["metadata"]["name"]
    );
    let streams_key = streams_volume["secret"]["items"][0]["key"]
        .as_str()
        .unwrap();
    assert_eq!(
        serve.streams_file.as_deref(),
        Some(
            Path::new(&mount_of("streams"))
                .join(
                    streams_volume["secret"]["items"][0]["path"]
                        .as_str()
                        .unwrap()
                )
                .as_path()
        )
    );

    // The example Secret is in the format --streams-file reads.
    let dir = std::env::temp_dir().join(format!("framechain-manifests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let streams_file = dir.join("streams");
    std::fs::write(
        &streams_file,
        secret["stringData"][streams_key]
            .as_str()
            .expect("the streams key"),
    )
    .unwrap();
    let mut from_file = serve.clone();
    from_file.streams_file = Some(streams_file);
    let streams = from_file.all_streams().expect("the example Secret parses");
    assert!(!streams.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();

    // The ConfigMap's pipeline is valid, takes and gives H.264, and its
    // stages are what the Deployment declares to the policy.
    let chain = framechain::ChainSpec::parse_pipeline_yaml(
        config_map["data"]["pipeline.yaml"].as_str().unwrap(),
    )
    .expect("the serve pipeline parses");
    let stages: Vec<&str> = chain
        .stages
        .iter()
        .map(|stage| stage.stage.as_str())
        .collect();
    assert_eq!(stages.first(), Some(&"decode-h264"));
    assert_eq!(stages.last(), Some(&"encode-h264"));
    assert_eq!(
        template["metadata"]["annotations"]["framechain.io/pipeline-stages"],
        stages.join(",")
    );

    // The Service selects exactly these pods and targets their named ports,
    // TCP for HTTP and UDP for media.
    let service = yaml(&repo_file("deploy/k3s/serve-service.yaml"));
    assert!(service_selects(&service, &template["metadata"]["labels"]));
    let service_ports = service["spec"]["ports"].as_array().unwrap();
    for (name, protocol) in [("http", "TCP"), ("media", "UDP")] {
        let found = service_ports
            .iter()
            .find(|port| port["targetPort"] == name)
            .unwrap_or_else(|| panic!("the Service has no port for {name}"));
        assert_eq!(found["protocol"], protocol);
    }
}

/// Visits (docs/visits.md): the ConfigMap holds the default policy as
/// `serve` builds it in, and rooms in the agreed form; the keys Secret is a
/// key set `serve` loads, with public keys only; the Deployment mounts both
/// folders and names the files in its `--keys`, `--policy` and `--rooms`.
#[test]
fn the_visit_manifests_hold_the_default_policy_rooms_and_public_keys() {
    let visits = yaml(&repo_file("deploy/k3s/serve-visits.yaml"));
    assert_eq!(
        visits["data"]["visit.rego"].as_str().expect("visit.rego"),
        repo_file("crates/framechain-identity/policy/visit.rego"),
        "the ConfigMap's policy is the default policy"
    );
    let rooms: Value =
        serde_json::from_str(visits["data"]["rooms.json"].as_str().expect("rooms.json"))
            .expect("the rooms are JSON");
    let rooms = rooms.as_array().expect("a list of rooms");
    assert!(!rooms.is_empty());
    for room in rooms {
        assert!(
            room["room"].is_string() && room["patient"].is_string(),
            "{room}"
        );
        assert!(room["clinicians"].is_array(), "{room}");
        // Its patient may publish in it under the ConfigMap's policy.
        let input = json!({
            "user": {"id": room["patient"], "role": "patient", "room": room["room"]},
            "action": "publish",
            "resource": {"room": {"id": room["room"], "patient": room["patient"],
                                  "clinicians": room["clinicians"],
                                  "others": room.get("others").cloned().unwrap_or(json!([]))}},
            "time": "2026-12-05T09:30:00Z",
        });
        let decision =
            framechain_serve::identity::tools::test_policy(None, &input.to_string()).unwrap();
        assert!(decision.allow, "{room}: {}", decision.reason);
    }

    let secret = yaml(&repo_file("deploy/k3s/serve-keys.example.yaml"));
    let jwks = secret["stringData"]["jwks.json"]
        .as_str()
        .expect("jwks.json");
    let parsed: Value = serde_json::from_str(jwks).expect("the JWKS is JSON");
    for key in parsed["keys"].as_array().expect("keys") {
        assert!(
            key.get("d").is_none(),
            "a private key in the cluster: {key}"
        );
    }
    let dir =
        std::env::temp_dir().join(format!("framechain-visit-manifests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, jwks).unwrap();
    // The key set loads (a junk token is then refused, not the file).
    let refused =
        framechain_serve::identity::tools::verify_token(&jwks_file, "framechain", "a.b.c", 0)
            .expect("serve loads the example key set");
    assert!(refused.is_err());
    std::fs::remove_dir_all(&dir).unwrap();

    // The Deployment mounts them where its arguments say.
    let deployment = serve_statefulset();
    let spec = &deployment["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let args = serve_container_args(container);
    let mounted = |volume_name: &str, kind: &str, object: &Value| -> Vec<String> {
        let volume = spec["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|volume| volume["name"] == volume_name)
            .unwrap_or_else(|| panic!("no volume {volume_name}"));
        let source = &volume[kind];
        let name_field = if kind == "secret" {
            "secretName"
        } else {
            "name"
        };
        assert_eq!(source[name_field], object["metadata"]["name"]);
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|mount| mount["name"] == volume_name)
            .unwrap_or_else(|| panic!("no mount of {volume_name}"));
        assert!(
            mount.get("subPath").is_none(),
            "a subPath mount is never updated"
        );
        source["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                format!(
                    "{}/{}",
                    mount["mountPath"].as_str().unwrap(),
                    item["path"].as_str().unwrap()
                )
            })
            .collect()
    };
    let keys = mounted("identity-keys", "secret", &secret);
    let visit_files = mounted("visits", "configMap", &visits);
    assert!(args.contains(&format!("--keys={}", keys[0])), "{args:?}");
    assert!(
        args.contains(&format!("--policy={}", visit_files[0]))
            && visit_files[0].ends_with("visit.rego"),
        "{args:?}"
    );
    // With the centre, the rooms are the centre's: serve refuses --rooms
    // beside --center, and the centre takes the ConfigMap's rooms file.
    assert!(
        args.iter().all(|arg| !arg.starts_with("--rooms")),
        "{args:?}"
    );
    let center = resource("center-deployment.yaml");
    let center_spec = &center["spec"]["template"]["spec"];
    let center_args = string_args(&center_spec["containers"][0]);
    let rooms_volume = center_spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|volume| volume["configMap"]["name"] == visits["metadata"]["name"])
        .expect("the centre mounts the visits ConfigMap");
    assert_eq!(rooms_volume["configMap"]["items"][0]["key"], "rooms.json");
    assert!(
        flag(&center_args, "--rooms").is_some_and(|path| path.ends_with("/rooms.json")),
        "{center_args:?}"
    );
}

// The centre (docs/center.md): its Deployment, Redis, PostgreSQL, the
// NetworkPolicies between them, their secrets, and the Gatekeeper rule that
// a pod serving visits sends its audit events.

/// Every manifest file under `deploy/k3s/`, relative to the checkout.
fn manifest_files() -> Vec<String> {
    let root = framechain_test_support::workspace_root();
    let mut files = Vec::new();
    let mut folders = vec![root.join("deploy/k3s")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("deploy/k3s") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "yaml") {
                let relative = path.strip_prefix(root).unwrap();
                files.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    files.sort();
    files
}

/// Every resource of every manifest.
fn all_resources() -> Vec<(String, Value)> {
    manifest_files()
        .into_iter()
        .map(|file| {
            let resource = yaml(&repo_file(&file));
            (file, resource)
        })
        .collect()
}

/// The pod templates of every workload (and bare Pod) in the manifests:
/// (workload name, the pod's labels, whether it uses the node's network,
/// its spec).
fn pod_templates() -> Vec<(String, Value, bool, Value)> {
    all_resources()
        .into_iter()
        .filter_map(|(_, resource)| {
            let name = resource["metadata"]["name"].as_str()?.to_owned();
            let (metadata, spec) = match resource["kind"].as_str()? {
                "Pod" => (resource["metadata"].clone(), resource["spec"].clone()),
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => (
                    resource["spec"]["template"]["metadata"].clone(),
                    resource["spec"]["template"]["spec"].clone(),
                ),
                _ => return None,
            };
            let host_network = spec["hostNetwork"] == true;
            Some((name, metadata["labels"].clone(), host_network, spec))
        })
        .collect()
}

fn network_policy(name: &str) -> Value {
    all_resources()
        .into_iter()
        .map(|(_, resource)| resource)
        .find(|resource| {
            resource["kind"] == "NetworkPolicy" && resource["metadata"]["name"] == name
        })
        .unwrap_or_else(|| panic!("no NetworkPolicy {name}"))
}

/// Whether a label selector of `matchLabels` only matches `labels` (the
/// policies here use nothing else: anything else fails the test).
fn selects(selector: &Value, labels: &Value) -> bool {
    let object = selector.as_object().expect("a selector");
    assert!(
        object.keys().all(|key| key == "matchLabels"),
        "only matchLabels selectors are evaluated here: {selector}"
    );
    selector["matchLabels"]
        .as_object()
        .expect("matchLabels")
        .iter()
        .all(|(key, value)| &labels[key] == value)
}

/// Whether a Service's selector (plain labels) matches `labels`.
fn service_selects(service: &Value, labels: &Value) -> bool {
    selects(
        &json!({ "matchLabels": service["spec"]["selector"] }),
        labels,
    )
}

/// Whether `policy` lets a pod of this namespace with `labels` connect to
/// `port` on the pods it selects, as the network plugin decides: a pod on
/// the node's network is seen by its node's address, which only an
/// `ipBlock` admits, never a pod selector.
fn admits(policy: &Value, labels: &Value, host_network: bool, port: u64) -> bool {
    policy["spec"]["ingress"]
        .as_array()
        .expect("ingress rules")
        .iter()
        .any(|rule| {
            let port_ok = rule["ports"]
                .as_array()
                .expect("a rule names its ports")
                .iter()
                .any(|allowed| allowed["port"] == port && allowed["protocol"] == "TCP");
            let peer_ok = rule["from"]
                .as_array()
                .expect("a rule names its peers")
                .iter()
                .any(|peer| {
                    assert!(
                        peer.get("namespaceSelector").is_none(),
                        "a peer from other namespaces: {peer}"
                    );
                    if let Some(selector) = peer.get("podSelector") {
                        !host_network && selects(selector, labels)
                    } else {
                        assert!(peer.get("ipBlock").is_some(), "an unknown peer: {peer}");
                        host_network
                    }
                });
            port_ok && peer_ok
        })
}

/// The policy selects exactly `server`'s pods, denies everything else in and
/// everything out, and of all pods in the manifests admits exactly
/// `clients` on `port`.
fn check_policy(policy_name: &str, server: &str, port: u64, clients: &[&str]) {
    let policy = network_policy(policy_name);
    let templates = pod_templates();
    let selected: Vec<&str> = templates
        .iter()
        .filter(|(_, labels, _, _)| selects(&policy["spec"]["podSelector"], labels))
        .map(|(name, ..)| name.as_str())
        .collect();
    assert_eq!(selected, vec![server], "{policy_name} selects");
    assert_eq!(
        policy["spec"]["policyTypes"],
        json!(["Ingress", "Egress"]),
        "{policy_name}: default-deny both ways"
    );
    assert!(
        policy["spec"].get("egress").is_none(),
        "{policy_name}: {server} needs no connection out"
    );
    let mut admitted: Vec<&str> = templates
        .iter()
        .filter(|(_, labels, host_network, _)| admits(&policy, labels, *host_network, port))
        .map(|(name, ..)| name.as_str())
        .collect();
    admitted.sort_unstable();
    assert_eq!(admitted, clients, "{policy_name} admits");
    // No other port is open.
    for (name, labels, host_network, _) in &templates {
        assert!(
            !admits(&policy, labels, *host_network, port + 1),
            "{policy_name} admits {name} on another port"
        );
    }
}

#[test]
fn only_serve_and_the_centre_reach_redis() {
    check_policy(
        "framechain-redis",
        "framechain-redis",
        6379,
        &["framechain-center", "framechain-serve"],
    );
    // The serve pods are on their nodes' network: they are admitted by the
    // nodes' addresses, the documentation range until the site fills them in.
    let policy = network_policy("framechain-redis");
    let blocks: Vec<&Value> = policy["spec"]["ingress"][0]["from"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|peer| peer.get("ipBlock"))
        .collect();
    assert_eq!(blocks, vec![&json!({ "cidr": "192.0.2.0/24" })]);
    let on_host_network: Vec<String> = pod_templates()
        .into_iter()
        .filter(|(_, _, host_network, _)| *host_network)
        .map(|(name, ..)| name)
        .collect();
    assert_eq!(on_host_network, vec!["framechain-serve"]);
}

#[test]
fn only_the_centre_and_its_migration_reach_postgres() {
    check_policy(
        "framechain-postgres",
        "framechain-postgres",
        5432,
        &["framechain-center", "framechain-center-migrate-0-1-0"],
    );
}

fn resource(file: &str) -> Value {
    yaml(&repo_file(&format!("deploy/k3s/{file}")))
}

/// The value of `--flag=VALUE` among `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let prefix = format!("{flag}=");
    args.iter().find_map(|arg| arg.strip_prefix(&prefix))
}

fn string_args(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|arg| arg.as_str().expect("a string").to_owned())
        .collect()
}

fn env_source<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|var| var["name"] == name)
        .unwrap_or_else(|| panic!("no variable {name}"))
}

#[test]
fn the_centre_runs_two_replicas_in_one_consumer_group() {
    let deployment = resource("center-deployment.yaml");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let template = &deployment["spec"]["template"];
    assert!(selects(
        &deployment["spec"]["selector"],
        &template["metadata"]["labels"]
    ));
    let container = &template["spec"]["containers"][0];
    assert_eq!(container["command"], json!(["framechain"]));
    let args = string_args(container);
    assert_eq!(args[0], "center");
    // Each replica's consumer name is its own pod's name.
    assert_eq!(flag(&args, "--name"), Some("$(POD_NAME)"));
    assert_eq!(
        env_source(container, "POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    for required in [
        "--http",
        "--redis",
        "--postgres",
        "--keys",
        "--admin-token-file",
        "--ticket-key",
    ] {
        assert!(flag(&args, required).is_some(), "no {required}: {args:?}");
    }
    assert!(!args.contains(&"--migrate".to_owned()), "the Job migrates");
    parse_center_args(&args[1..]);
    // The files its options name are the Secrets' mounted items.
    let mounted: Vec<String> = template["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|volume| {
            let mount = container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|mount| mount["name"] == volume["name"])
                .expect("every volume is mounted");
            let source = if volume["secret"].is_object() {
                &volume["secret"]
            } else {
                &volume["configMap"]
            };
            source["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|item| {
                    format!(
                        "{}/{}",
                        mount["mountPath"].as_str().unwrap(),
                        item["path"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for option in ["--keys", "--admin-token-file", "--ticket-key", "--rooms"] {
        let path = flag(&args, option).unwrap();
        assert!(
            mounted.iter().any(|file| file == path),
            "{option}={path} is not mounted: {mounted:?}"
        );
    }
    // It binds the port its Service and probes name.
    let http = flag(&args, "--http").unwrap();
    let port = &container["ports"][0];
    assert_eq!(port["name"], "http");
    assert!(
        http.ends_with(&format!(":{}", port["containerPort"])),
        "{http}"
    );
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe}");
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
    }
    let service = resource("center-service.yaml");
    assert!(service_selects(&service, &template["metadata"]["labels"]));
    // The migration Job's pods are not the Service's or the budget's.
    let job = resource("center-migrate-job.yaml");
    let job_labels = &job["spec"]["template"]["metadata"]["labels"];
    assert!(!service_selects(&service, job_labels));
    let budget = resource("center-pdb.yaml");
    assert!(selects(
        &budget["spec"]["selector"],
        &template["metadata"]["labels"]
    ));
    assert!(!selects(&budget["spec"]["selector"], job_labels));
    assert_eq!(budget["spec"]["minAvailable"], 1);
    let job_args = string_args(&job["spec"]["template"]["spec"]["containers"][0]);
    assert_eq!(job_args[0], "center");
    assert!(
        job_args.contains(&"--migrate-only".to_owned()),
        "{job_args:?}"
    );
    parse_center_args(&job_args[1..]);
    // The centre's runtime role is not the owner that migrates.
    let user = |url: &str| {
        url.split("://")
            .nth(1)
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        user(flag(&args, "--postgres").unwrap()),
        "framechain_center"
    );
    assert_eq!(user(flag(&job_args, "--postgres").unwrap()), "framechain");
    // Redis persists every write and never evicts audit events.
    let redis = resource("redis-statefulset.yaml");
    let redis_args = string_args(&redis["spec"]["template"]["spec"]["containers"][0]);
    for pair in [
        ["--appendonly", "yes"],
        ["--appendfsync", "always"],
        ["--maxmemory-policy", "noeviction"],
    ] {
        assert!(
            redis_args.windows(2).any(|window| window == pair),
            "{pair:?}: {redis_args:?}"
        );
    }
    for stateful in [&redis, &resource("postgres-statefulset.yaml")] {
        let claim = &stateful["spec"]["volumeClaimTemplates"][0];
        assert!(
            claim["spec"]["resources"]["requests"]["storage"].is_string(),
            "a persistent volume"
        );
        let mounts = stateful["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap();
        assert!(
            mounts
                .iter()
                .any(|mount| mount["name"] == claim["metadata"]["name"])
        );
    }
}

/// No password, token or key is written into a pod spec: every variable of
/// that kind comes from a Secret, every password in a URL argument is such a
/// variable, and the example Secrets hold placeholders only.
#[test]
fn secrets_are_never_inline() {
    let templates = pod_templates();
    let mut urls_checked = 0;
    for (name, _, _, spec) in &templates {
        let containers = spec["containers"].as_array().expect("containers");
        for container in containers {
            let secret_vars: Vec<&str> = container["env"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|var| {
                    let var_name = var["name"].as_str().unwrap();
                    let sensitive = ["PASSWORD", "TOKEN", "SECRET", "KEY", "AUTH"]
                        .iter()
                        .any(|word| var_name.contains(word));
                    if sensitive {
                        assert!(
                            var.get("value").is_none()
                                && var["valueFrom"]["secretKeyRef"]["name"].is_string(),
                            "{name}: {var_name} is not from a Secret: {var}"
                        );
                    }
                    var["valueFrom"]["secretKeyRef"]
                        .is_object()
                        .then_some(var_name)
                })
                .collect();
            let args = container["args"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            for arg in args.iter().filter_map(Value::as_str) {
                let lower = arg.to_ascii_lowercase();
                assert!(
                    !["password=", "token=", "secret="]
                        .iter()
                        .any(|word| lower.contains(word)),
                    "{name}: a secret in an argument: {arg}"
                );
                // scheme://user:PASSWORD@host: the password is a variable
                // from a Secret.
                let Some((_, rest)) = arg.split_once("://") else {
                    continue;
                };
                let Some((credentials, _)) = rest.split_once('@') else {
                    continue;
                };
                let password = credentials
                    .split_once(':')
                    .map_or("", |(_, password)| password);
                let variable = password
                    .strip_prefix("$(")
                    .and_then(|rest| rest.strip_suffix(')'));
                assert!(
                    variable.is_some_and(|variable| secret_vars.contains(&variable)),
                    "{name}: the password in {arg} is not a Secret's variable"
                );
                urls_checked += 1;
            }
        }
    }
    // The serve pods' and the centre's Redis, the centre's and the Job's
    // PostgreSQL.
    assert_eq!(urls_checked, 4);
    for (file, resource) in all_resources() {
        if resource["kind"] != "Secret" {
            continue;
        }
        assert!(
            file.ends_with(".example.yaml"),
            "{file}: a Secret is an example, made with kubectl"
        );
        if resource["metadata"]["name"] == "framechain-serve-keys" {
            continue; // public keys only: checked above
        }
        for (key, value) in resource["stringData"].as_object().expect("stringData") {
            assert!(
                value.as_str().unwrap().contains("replace-with"),
                "{file}: {key} is not a placeholder"
            );
        }
    }
}

/// serve with the centre: its node name, Redis and spool, and the spool on
/// the pod's own volume, which outlives the pod.
#[test]
fn serve_sends_its_events_through_a_spool_on_its_own_volume() {
    let statefulset = serve_statefulset();
    assert_eq!(
        statefulset["kind"], "StatefulSet",
        "stable names and volumes per pod"
    );
    let container = &statefulset["spec"]["template"]["spec"]["containers"][0];
    let args = string_args(container);
    assert_eq!(flag(&args, "--node"), Some("$(SITE)-$(POD_NAME)"));
    assert_eq!(
        env_source(container, "POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    let center = flag(&args, "--center").expect("--center");
    assert!(
        center.starts_with("https://"),
        "browsers are redirected there: {center}"
    );
    assert!(
        flag(&args, "--redis")
            .unwrap()
            .ends_with("@framechain-redis:6379")
    );
    let redis_service = resource("redis-service.yaml");
    assert_eq!(redis_service["metadata"]["name"], "framechain-redis");
    assert_eq!(redis_service["spec"]["ports"][0]["port"], 6379);
    let capacity: usize = flag(&args, "--capacity").unwrap().parse().unwrap();
    let max_sessions: usize = flag(&args, "--max-sessions").unwrap().parse().unwrap();
    assert!(capacity <= max_sessions, "a room holds a call");
    // The labels are the node's (its nodeSelector).
    let node_selector = &statefulset["spec"]["template"]["spec"]["nodeSelector"];
    for (key, value) in node_selector.as_object().unwrap() {
        let label = format!("--label={key}={}", value.as_str().unwrap());
        assert!(args.contains(&label), "no {label}");
    }
    let spool = flag(&args, "--spool").unwrap();
    let claim = &statefulset["spec"]["volumeClaimTemplates"][0];
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mount| mount["name"] == claim["metadata"]["name"])
        .expect("the spool volume is mounted");
    assert!(Path::new(spool).starts_with(mount["mountPath"].as_str().unwrap()));
    assert_ne!(mount["readOnly"], true);
}

/// The serve pod's container, with its arguments replaced.
fn serve_pod_with_args(args: Vec<String>) -> Value {
    let mut pod = serve_pod();
    pod["spec"]["containers"][0]["args"] = json!(args);
    pod
}

#[test]
fn a_visit_server_without_audit_events_is_refused() {
    let parameters = constraint_parameters();
    let statefulset = serve_statefulset();
    let args = string_args(&statefulset["spec"]["template"]["spec"]["containers"][0]);
    for missing in ["--redis", "--node", "--center"] {
        let without: Vec<String> = args
            .iter()
            .filter(|arg| !arg.starts_with(&format!("{missing}=")))
            .cloned()
            .collect();
        let found = violations(&serve_pod_with_args(without.clone()), &parameters);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].contains("\"serve\" serves visits")
                && found[0].contains(&format!("\"{missing}\"")),
            "{found:?}"
        );
        // The StatefulSet itself, and without the patient-video label.
        let mut workload = statefulset.clone();
        workload["spec"]["template"]["spec"]["containers"][0]["args"] = json!(without);
        workload["spec"]["template"]["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("framechain.io/patient-video");
        let found = violations(&workload, &parameters);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("audit events"), "{found:?}");
    }
    // All three missing: named in one message.
    let bare: Vec<String> = args
        .iter()
        .filter(|arg| {
            !["--redis=", "--node=", "--center="]
                .iter()
                .any(|flag| arg.starts_with(flag))
        })
        .cloned()
        .collect();
    let found = violations(&serve_pod_with_args(bare.clone()), &parameters);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains(r#"["--redis", "--node", "--center"]"#),
        "{found:?}"
    );
    // An empty value does not count; the value as the next argument does.
    let mut empty = bare.clone();
    empty.extend(["--redis=".into(), "--node=".into(), "--center".into()]);
    assert_eq!(
        violations(&serve_pod_with_args(empty), &parameters).len(),
        1
    );
    let mut separate = bare.clone();
    separate.extend(
        [
            "--redis",
            "redis://r:6379",
            "--node",
            "n-1",
            "--center",
            "https://c",
        ]
        .map(String::from),
    );
    assert_eq!(
        violations(&serve_pod_with_args(separate), &parameters),
        Vec::<String>::new()
    );
    // The framechain binary with `serve` as its first argument is the same.
    let mut binary = serve_pod_with_args(bare.clone());
    binary["spec"]["containers"][0]["command"] = json!(["/usr/bin/framechain", "serve"]);
    assert_eq!(violations(&binary, &parameters).len(), 1);
    // serve without visits (streams with their own tokens, no --keys) and
    // other programs are not asked for it.
    let streams_only: Vec<String> = bare
        .into_iter()
        .filter(|arg| !arg.starts_with("--keys="))
        .collect();
    assert_eq!(
        violations(&serve_pod_with_args(streams_only), &parameters),
        Vec::<String>::new()
    );
}
