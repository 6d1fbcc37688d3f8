//! The manifests of `deploy/k3s/`: they parse and agree with each other,
//! and the Gatekeeper policy of `gatekeeper/` is evaluated on allowed
//! and rejected pods. The Rego is taken from the ConstraintTemplate as
//! Gatekeeper takes it, and evaluated with regorus (a Rego interpreter) on
//! the input Gatekeeper gives it: `{"review": {"object": ...}, "parameters":
//! ...}`. The pod specs are the Deployment of `deploy/k3s/deployment.yaml`
//! and variations of it.

use std::path::Path;

use serde_json::{Value, json};

fn repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
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
