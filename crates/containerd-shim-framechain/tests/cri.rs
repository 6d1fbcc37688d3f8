//! The kubelet's path to the shim: containerd's CRI plugin, driven over its
//! gRPC socket as a kubelet drives it (RunPodSandbox with the `framechain`
//! runtime handler, CreateContainer, StartContainer, ContainerStatus until
//! it exits, then the container's log file).
//!
//! Ignored by default: it needs a running containerd with the framechain
//! runtime and the test images. `crates/containerd-shim-framechain/tests/containerd.sh` (run by `cargo
//! xtask test`) starts one and runs this test with:
//! - `FRAMECHAIN_CRI_SOCKET`: containerd's socket;
//! - `FRAMECHAIN_CRI_DATA`: a host folder holding `in.264`, mounted at `/data`;
//! - `FRAMECHAIN_CRI_FRAMES`: the clip's frame count (checked by the script
//!   on `out-cri.264` with FFmpeg).
//!
//! The second test runs `framechain serve` as a pod (the container's first
//! argument `serve`), on the host's network: a WebRTC publisher in this
//! process (`framechain-loadgen`, str0m) sends `in.264` over WHIP, a viewer
//! receives the processed stream over WHEP (written to `out-serve.264` for
//! the script to check with FFmpeg), and the pod is then stopped as the
//! kubelet stops it (SIGTERM), which must end it cleanly with exit 0.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatsRequest,
    ContainerStatusRequest, CreateContainerRequest, ImageSpec, LinuxContainerConfig,
    LinuxContainerResources, LinuxPodSandboxConfig, LinuxSandboxSecurityContext, Mount,
    NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxMetadata, RemoveContainerRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest, StopContainerRequest,
    StopPodSandboxRequest, VersionRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

const IMAGE: &str = "framechain.local/transcode:test";
const HANDLER: &str = "framechain";
/// Longest a container may take from start to exit.
const CONTAINER_DEADLINE: Duration = Duration::from_secs(120);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set; run crates/containerd-shim-framechain/tests/containerd.sh")
    })
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
#[ignore = "needs containerd with the framechain runtime; crates/containerd-shim-framechain/tests/containerd.sh runs it"]
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

/// The streams file the serve pod reads (`--streams-file`), as a mounted
/// Secret would hold it.
const STREAMS: &str = "# NAME:PUBLISH_TOKEN:VIEW_TOKEN\nroom1:publish-token-1:view-token-1\nroom2:publish-token-2:view-token-2\n";
/// Longest the server may take from StartContainer to answering `/readyz`.
const SERVE_READY_DEADLINE: Duration = Duration::from_secs(90);
/// Grace period of the StopContainer (SIGTERM, then SIGKILL).
const STOP_GRACE_SECONDS: i64 = 20;

/// A port nobody uses on 127.0.0.1 now (TCP or UDP).
fn free_port(udp: bool) -> u16 {
    if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|socket| socket.local_addr())
            .expect("a free UDP port")
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|socket| socket.local_addr())
            .expect("a free TCP port")
            .port()
    }
}

async fn container_state(client: &mut RuntimeServiceClient<Channel>, id: &str) -> (i32, i32) {
    let status = client
        .container_status(ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("a container status");
    (status.state, status.exit_code)
}

/// The container's memory working set as the CRI reports it (what the
/// kubelet compares with the limit), for the log; None where the runtime
/// gives no figure.
async fn memory_mib(client: &mut RuntimeServiceClient<Channel>, id: &str) -> Option<f64> {
    let stats = client
        .container_stats(ContainerStatsRequest {
            container_id: id.into(),
        })
        .await
        .ok()?
        .into_inner()
        .stats?;
    let bytes = stats.memory?.working_set_bytes?.value;
    Some(bytes as f64 / (1 << 20) as f64)
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs containerd with the framechain runtime; crates/containerd-shim-framechain/tests/containerd.sh runs it"]
async fn a_pod_serves_whip_and_whep_through_the_cri() {
    let socket = PathBuf::from(env("FRAMECHAIN_CRI_SOCKET"));
    let data = PathBuf::from(env("FRAMECHAIN_CRI_DATA"));
    let logs = data.join("cri-logs").join("serve");
    std::fs::create_dir_all(&logs).expect("a log folder");
    std::fs::write(data.join("serve-streams"), STREAMS).expect("the streams file");
    let clip = framechain_loadgen::Clip::open(&data.join("in.264")).expect("the clip");
    let mut client = connect(socket).await;

    let (http_port, media_port) = (free_port(false), free_port(true));
    let base = format!("http://127.0.0.1:{http_port}");
    let mut config = container_config(
        "serve",
        &data,
        &[
            "--pipeline",
            "/pipeline.yaml",
            "--http",
            &format!("127.0.0.1:{http_port}"),
            "--media",
            &format!("127.0.0.1:{media_port}"),
            "--streams-file",
            "/data/serve-streams",
            // One call fills the pod: the next publisher must be refused
            // and /readyz must say so.
            "--max-sessions",
            "1",
        ],
    );
    config.command = vec!["serve".into()];
    let log_file = logs.join(&config.log_path);

    let sandbox = sandbox_config(&logs);
    let pod = client
        .run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sandbox.clone()),
            runtime_handler: HANDLER.into(),
        })
        .await
        .expect("RunPodSandbox with the framechain handler")
        .into_inner()
        .pod_sandbox_id;
    let started = Instant::now();
    let id = client
        .create_container(CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
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

    // Ready: the pipeline is built and the sockets are bound in the pod.
    let readyz = format!("{base}/readyz");
    loop {
        let (state, code) = container_state(&mut client, &id).await;
        assert_ne!(
            state,
            ContainerState::ContainerExited as i32,
            "the serve container exited {code} before it was ready: {}",
            read_log(&log_file)
        );
        let url = readyz.clone();
        let answer = tokio::task::spawn_blocking(move || framechain_loadgen::get_text(&url, None))
            .await
            .expect("the probe thread");
        if answer.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < SERVE_READY_DEADLINE,
            "/readyz not ready after {SERVE_READY_DEADLINE:?}: {answer:?}; log: {}",
            read_log(&log_file)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "cri test: serve ready {} ms after CreateContainer",
        started.elapsed().as_millis()
    );

    let idle_memory = memory_mib(&mut client, &id).await;

    // The calls, with blocking clients on a thread of their own.
    let calls_base = base.clone();
    let data_dir = data.clone();
    let outcome = tokio::task::spawn_blocking(move || calls(&calls_base, clip, &data_dir))
        .await
        .expect("the calls thread");

    eprintln!(
        "cri test: serve pod memory working set: {} MiB idle, {} MiB after a call",
        idle_memory.map_or("?".into(), |mib| format!("{mib:.1}")),
        memory_mib(&mut client, &id)
            .await
            .map_or("?".into(), |mib| format!("{mib:.1}"))
    );

    // Stopped as the kubelet stops a pod: SIGTERM, SIGKILL after the grace.
    let stopping = Instant::now();
    client
        .stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: STOP_GRACE_SECONDS,
        })
        .await
        .expect("StopContainer");
    let (state, code) = container_state(&mut client, &id).await;
    let stop_ms = stopping.elapsed().as_millis();
    let log = read_log(&log_file);
    eprint!("cri test: serve log:\n{log}");
    client
        .remove_container(RemoveContainerRequest {
            container_id: id.clone(),
        })
        .await
        .expect("RemoveContainer");
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

    if let Err(message) = outcome {
        panic!("{message}; serve log: {log}");
    }
    assert_eq!(state, ContainerState::ContainerExited as i32);
    assert_eq!(
        code, 0,
        "SIGTERM did not end serve cleanly (137: killed after the grace period): {log}"
    );
    assert!(
        log.contains("framechain: serve transcode-test") && log.contains("stopped on SIGTERM"),
        "no start and stop lines in the log: {log}"
    );
    assert!(
        !log.contains("publish-token-") && !log.contains("view-token-"),
        "a token reached the log: {log}"
    );
    eprintln!("cri test: serve stopped by SIGTERM in {stop_ms} ms, exit 0");
}

/// A publisher and a viewer through the pod; a refused second publisher
/// and wrong tokens. Returns what went wrong instead of panicking, so that
/// the pod is removed either way.
fn calls(base: &str, clip: framechain_loadgen::Clip, data: &Path) -> Result<(), String> {
    use framechain_loadgen::{Endpoint, PublishOptions, Publisher, ViewOptions, Viewer};

    // Tokens come from the streams file: a wrong one and another stream's
    // are refused before any media.
    for (token, expected) in [("not-the-token", 403), ("publish-token-2", 403)] {
        match Publisher::start(
            &Endpoint::new(base, "room1", token),
            clip.clone(),
            PublishOptions::default(),
        ) {
            Err(error) if error.status() == Some(expected) => {}
            Err(error) => return Err(format!("a wrong publish token: {error}")),
            Ok(_) => return Err("a wrong publish token was let in".to_owned()),
        }
    }

    let frames = clip.len() as u64;
    let publisher = Publisher::start(
        &Endpoint::new(base, "room1", "publish-token-1"),
        clip.clone(),
        PublishOptions {
            fps: 30.0,
            // The clip twice: the viewer joins while it runs.
            frames: Some(2 * frames),
            ..PublishOptions::default()
        },
    )
    .map_err(|error| format!("WHIP publish: {error}"))?;
    publisher
        .wait_connected(Duration::from_secs(20))
        .map_err(|error| format!("the publisher did not connect: {error}"))?;
    let viewer = Viewer::start(
        &Endpoint::new(base, "room1", "view-token-1"),
        ViewOptions::default(),
    )
    .map_err(|error| format!("WHEP view: {error}"))?;
    viewer
        .wait_connected(Duration::from_secs(20))
        .map_err(|error| format!("the viewer did not connect: {error}"))?;
    let wanted = frames / 2;
    viewer
        .wait_units(wanted, Duration::from_secs(30))
        .map_err(|error| format!("the viewer got {:?}: {error}", viewer.stats()))?;

    // The pod is full (--max-sessions 1): not ready, and a second
    // publisher is refused with 503 and Retry-After.
    match framechain_loadgen::get_text(&format!("{base}/readyz"), None) {
        Err(error) if error.status() == Some(503) => {}
        other => return Err(format!("/readyz with the pod full: {other:?}")),
    }
    match Publisher::start(
        &Endpoint::new(base, "room2", "publish-token-2"),
        clip.clone(),
        PublishOptions::default(),
    ) {
        Err(framechain_loadgen::Error::Refused {
            status: 503,
            retry_after: Some(_),
            ..
        }) => {}
        Err(error) => return Err(format!("a publisher past the cap: {error}")),
        Ok(_) => return Err("a publisher past --max-sessions 1 was let in".to_owned()),
    }

    let units = viewer
        .stop()
        .map_err(|error| format!("stopping the viewer: {error}"))?;
    let sent = publisher
        .stop()
        .map_err(|error| format!("stopping the publisher: {error}"))?;
    eprintln!(
        "cri test: publisher sent {} access units, the viewer got {} ({} keyframes)",
        sent.sent,
        units.len(),
        units.iter().filter(|unit| unit.keyframe).count()
    );
    // A viewer that joins a running call starts at the next keyframe the
    // encoder makes (its PLI asks for one); what comes before is
    // undecodable on its own and is left out of the file FFmpeg checks.
    let first_key = units
        .iter()
        .position(|unit| unit.keyframe)
        .ok_or("the viewer got no keyframe")?;
    framechain_loadgen::write_h264(&units[first_key..], &data.join("out-serve.264"))
        .map_err(|error| format!("writing out-serve.264: {error}"))?;
    // The call has ended: the pod takes publishers again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while framechain_loadgen::get_text(&format!("{base}/readyz"), None).is_err() {
        if Instant::now() > deadline {
            return Err("/readyz still not ready 10 s after the call ended".to_owned());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
