//! The kubelet's path to the shim: containerd's CRI plugin, driven over its
//! gRPC socket as a kubelet drives it (RunPodSandbox with the `framechain`
//! runtime handler, CreateContainer, StartContainer, ContainerStatus until
//! it exits, then the container's log file).
//!
//! Ignored by default: it needs a running containerd with the framechain
//! runtime and the test images. `shim/tests/containerd.sh` (run by `cargo
//! xtask test`) starts one and runs this test with:
//! - `FRAMECHAIN_CRI_SOCKET`: containerd's socket;
//! - `FRAMECHAIN_CRI_DATA`: a host folder holding `in.264`, mounted at `/data`;
//! - `FRAMECHAIN_CRI_FRAMES`: the clip's frame count (checked by the script
//!   on `out-cri.264` with FFmpeg).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatusRequest,
    CreateContainerRequest, ImageSpec, LinuxContainerConfig, LinuxContainerResources,
    LinuxPodSandboxConfig, LinuxSandboxSecurityContext, Mount, NamespaceMode, NamespaceOption,
    PodSandboxConfig, PodSandboxMetadata, RemoveContainerRequest, RemovePodSandboxRequest,
    RunPodSandboxRequest, StartContainerRequest, StopPodSandboxRequest, VersionRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

const IMAGE: &str = "framechain.local/transcode:test";
const HANDLER: &str = "framechain";
/// Longest a container may take from start to exit.
const CONTAINER_DEADLINE: Duration = Duration::from_secs(120);

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set; run shim/tests/containerd.sh"))
}

async fn connect(socket: PathBuf) -> RuntimeServiceClient<Channel> {
    let channel = Endpoint::try_from("http://[::]:50051")
        .expect("a valid placeholder URI")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(socket).await?)) }
        }))
        .await
        .expect("cannot connect to containerd's CRI socket");
    RuntimeServiceClient::new(channel)
}

/// Pods are named after their log folder.
fn pod_name(log_directory: &Path) -> String {
    log_directory
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pod".into())
}

fn sandbox_config(log_directory: &Path) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: pod_name(log_directory),
            uid: format!("framechain-cri-test-{}", pod_name(log_directory)),
            namespace: "default".into(),
            attempt: 0,
        }),
        hostname: pod_name(log_directory),
        log_directory: log_directory.to_string_lossy().into_owned(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                // Host networking: no CNI plugin is needed.
                namespace_options: Some(NamespaceOption {
                    network: NamespaceMode::Node as i32,
                    pid: NamespaceMode::Container as i32,
                    ipc: NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_config(name: &str, data: &Path, args: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE.into(),
            ..Default::default()
        }),
        args: args.iter().map(|arg| arg.to_string()).collect(),
        mounts: vec![Mount {
            container_path: "/data".into(),
            host_path: data.to_string_lossy().into_owned(),
            ..Default::default()
        }],
        log_path: format!("{name}.log"),
        linux: Some(LinuxContainerConfig {
            resources: Some(LinuxContainerResources {
                // The pod's memory limit: the whole pipeline runs under it.
                memory_limit_in_bytes: 512 << 20,
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates and starts a container in the pod, waits for it to exit, and
/// returns its exit code and log.
async fn run_container(
    client: &mut RuntimeServiceClient<Channel>,
    pod: &str,
    sandbox: &PodSandboxConfig,
    config: ContainerConfig,
    log_directory: &Path,
) -> (i32, String) {
    let log_file = log_directory.join(&config.log_path);
    let started = Instant::now();
    let id = client
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config),
            sandbox_config: Some(sandbox.clone()),
        })
        .await
        .expect("CreateContainer")
        .into_inner()
        .container_id;
    client
        .start_container(StartContainerRequest {
            container_id: id.clone(),
        })
        .await
        .expect("StartContainer");
    let status = loop {
        let status = client
            .container_status(ContainerStatusRequest {
                container_id: id.clone(),
                verbose: false,
            })
            .await
            .expect("ContainerStatus")
            .into_inner()
            .status
            .expect("a container status");
        if status.state == ContainerState::ContainerExited as i32 {
            break status;
        }
        assert!(
            started.elapsed() < CONTAINER_DEADLINE,
            "container {id} still not exited after {CONTAINER_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "cri test: container {} exited {} after {} ms (create to exit)",
        status.metadata.map(|m| m.name).unwrap_or_default(),
        status.exit_code,
        started.elapsed().as_millis()
    );
    client
        .remove_container(RemoveContainerRequest { container_id: id })
        .await
        .expect("RemoveContainer");
    let log = std::fs::read_to_string(&log_file).unwrap_or_else(|error| {
        panic!(
            "cannot read the container log {}: {error}",
            log_file.display()
        )
    });
    (status.exit_code, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs containerd with the framechain runtime; shim/tests/containerd.sh runs it"]
async fn a_pod_runs_a_pipeline_through_the_cri() {
    let socket = PathBuf::from(env("FRAMECHAIN_CRI_SOCKET"));
    let data = PathBuf::from(env("FRAMECHAIN_CRI_DATA"));
    let logs = data.join("cri-logs");
    std::fs::create_dir_all(&logs).expect("a log folder");
    let mut client = connect(socket).await;

    let version = client
        .version(VersionRequest {
            version: "v1".into(),
        })
        .await
        .expect("CRI Version")
        .into_inner();
    eprintln!(
        "cri test: {} {} (CRI {})",
        version.runtime_name, version.runtime_version, version.runtime_api_version
    );

    // The transcode, in a pod of its own.
    let good = container_config(
        "transcode",
        &data,
        &["-i", "/data/in.264", "-o", "/data/out-cri.264"],
    );
    let (code, log) = run_pod(&mut client, &logs.join("transcode"), good).await;
    eprint!("cri test: transcode log:\n{log}");
    assert_eq!(code, 0, "the transcode container failed: {log}");
    assert!(
        log.contains("framechain: transcode-test"),
        "no summary line in the log: {log}"
    );

    // A container whose pipeline file is broken fails alone, with a message
    // in its log; containerd goes on.
    let mut broken = container_config(
        "broken",
        &data,
        &["-i", "/data/in.264", "-o", "/data/out-broken.264"],
    );
    broken.command = vec!["/broken.yaml".into()];
    let (code, log) = run_pod(&mut client, &logs.join("broken"), broken).await;
    eprint!("cri test: broken log:\n{log}");
    assert_ne!(code, 0, "a broken pipeline exited 0");
    assert!(
        log.contains("framechain: error: ") && log.contains("broken.yaml"),
        "no readable error in the log: {log}"
    );
}

/// Runs a pod sandbox with the framechain handler holding one container
/// until the container exits; removes both; returns the exit code and log.
async fn run_pod(
    client: &mut RuntimeServiceClient<Channel>,
    logs: &Path,
    container: ContainerConfig,
) -> (i32, String) {
    std::fs::create_dir_all(logs).expect("a log folder");
    let sandbox = sandbox_config(logs);
    let started = Instant::now();
    let pod = client
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sandbox.clone()),
            runtime_handler: HANDLER.into(),
        })
        .await
        .expect("RunPodSandbox with the framechain handler")
        .into_inner()
        .pod_sandbox_id;
    eprintln!(
        "cri test: pod sandbox {pod} ready in {} ms",
        started.elapsed().as_millis()
    );
    let outcome = run_container(client, &pod, &sandbox, container, logs).await;
    client
        .stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        })
        .await
        .expect("StopPodSandbox");
    client
        .remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod,
        })
        .await
        .expect("RemovePodSandbox");
    outcome
}
