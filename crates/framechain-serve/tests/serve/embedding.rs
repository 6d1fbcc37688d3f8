//! An embedder's program that already runs tokio (`#[tokio::main]`) starts
//! the server from one of its tasks, uses it, and drops it there.

use std::time::Duration;

use framechain_loadgen::{Endpoint, ViewOptions, Viewer};
use framechain_serve::Server;

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_starts_and_stops_inside_an_embedders_tokio_runtime() {
    let server = Server::start(support::config(support::TELEMEDICINE, &["clinic"]))
        .expect("server starts inside a tokio runtime");
    let base = format!("http://{}", server.http_addr());
    // The blocking clients run off the embedder's async threads; the
    // server answers from its own.
    let connected = tokio::task::spawn_blocking(move || {
        let health = support::request("GET", &format!("{base}/healthz"), None, "text/plain", b"");
        assert_eq!(health.status, 200);
        let viewer = Viewer::start(
            &Endpoint::new(&base, "clinic", support::view_token("clinic")),
            ViewOptions::default(),
        )
        .expect("WHEP offer accepted");
        viewer.wait_connected(Duration::from_secs(10))
    })
    .await
    .expect("the clients ran");
    connected.expect("the viewer connects: ICE and DTLS through the media loop");
    assert_eq!(server.sessions(), 0);
    // Dropped in an async task: must neither panic nor block.
    drop(server);
}
