//! The manifests of `deploy/k3s/`: they parse and agree with each other,
//! and the Gatekeeper policy of `gatekeeper/` is evaluated on allowed
//! and rejected pods. The Rego is taken from the ConstraintTemplate as
//! Gatekeeper takes it, and evaluated with regorus (a Rego interpreter) on
//! the input Gatekeeper gives it: `{"review": {"object": ...}, "parameters":
//! ...}`. The pod specs are the Deployments of `deploy/k3s/deployment.yaml`
//! (a batch transcode) and `deploy/k3s/serve-deployment.yaml` (`framechain
//! serve`), and variations of them.

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
        "deploy/k3s/serve-deployment.yaml",
        "deploy/k3s/serve-service.yaml",
        "deploy/k3s/serve-secret.example.yaml",
        "deploy/k3s/serve-keys.example.yaml",
        "deploy/k3s/serve-visits.yaml",
    ];
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
    for (key, value) in deployment["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &deployment["spec"]["template"]["metadata"]["labels"][key],
            value
        );
    }
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

fn serve_deployment() -> Value {
    yaml(&repo_file("deploy/k3s/serve-deployment.yaml"))
}

/// A bare Pod with the serve Deployment's pod template.
fn serve_pod() -> Value {
    let template = serve_deployment()["spec"]["template"].clone();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template["metadata"],
        "spec": template["spec"],
    })
}

#[test]
fn the_serve_deployment_and_its_pod_are_allowed() {
    let parameters = constraint_parameters();
    let deployment = serve_deployment();
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"]["framechain.io/patient-video"], "true",
        "the policy must apply to serve"
    );
    assert_eq!(violations(&deployment, &parameters), Vec::<String>::new());
    assert_eq!(violations(&serve_pod(), &parameters), Vec::<String>::new());
}

#[test]
fn a_serve_deployment_without_redaction_is_refused() {
    let parameters = constraint_parameters();
    for mut object in [serve_deployment(), serve_pod()] {
        annotations(&mut object)["framechain.io/pipeline-stages"] =
            json!("decode-h264,scale,encode-h264");
        let found = violations(&object, &parameters);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("the pipeline must redact"), "{found:?}");
    }
    // Dropping the declaration does not get around it.
    let mut undeclared = serve_deployment();
    annotations(&mut undeclared)
        .as_object_mut()
        .unwrap()
        .remove("framechain.io/pipeline-stages");
    let found = violations(&undeclared, &parameters);
    assert!(found.iter().any(|m| m.contains("must redact")), "{found:?}");
}

/// The container's `args` with the kubelet's `$(VAR)` expansion of the
/// downward-API address done by hand.
fn serve_container_args(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|arg| {
            arg.as_str()
                .expect("a string argument")
                .replace("$(NODE_IP)", "10.0.0.7")
        })
        .collect()
}

#[test]
fn the_serve_manifests_agree() {
    let deployment = serve_deployment();
    let template = &deployment["spec"]["template"];
    let spec = &template["spec"];
    let runtime_class = yaml(&repo_file("deploy/k3s/runtimeclass.yaml"));
    assert_eq!(spec["runtimeClassName"], runtime_class["metadata"]["name"]);
    for (key, value) in deployment["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap()
    {
        assert_eq!(&template["metadata"]["labels"][key], value);
    }
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
        .unwrap_or_else(|error| panic!("the Deployment's args: {error}"));
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
    for (key, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&template["metadata"]["labels"][key], value);
    }
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
    let deployment = serve_deployment();
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
    for (flag, file) in [("--policy", "visit.rego"), ("--rooms", "rooms.json")] {
        let path = visit_files
            .iter()
            .find(|path| path.ends_with(file))
            .unwrap();
        assert!(args.contains(&format!("{flag}={path}")), "{args:?}");
    }
}
