//! A server holding visits for a test: a fresh key pair and its JWKS, a
//! rooms file, the default policy, and signed tokens made by the code of
//! `framechain keys new` and `framechain token`.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use framechain_serve::identity::tools::{KeyKind, NewKeys, TokenRequest, make_token, new_keys};
use framechain_serve::{ServeConfig, Server};

use crate::support;

/// Cheap enough for several calls at once on two cores.
pub(crate) const CHAIN: &str =
    "decode-h264 alignment=access-unit ! encode-h264 bitrate=300k fps=30 gop=30";
/// The admin token of [`Visit`]'s servers.
pub(crate) const ADMIN: &str = "admin-token-for-rooms";

/// A folder of this test's files, removed when dropped.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "framechain-serve-rooms-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(crate) fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.0.join(name);
        // Written aside and renamed, as an operator's tools (or a
        // ConfigMap) replace a file: never read half written.
        let part = self.0.join(format!("{name}.part"));
        std::fs::write(&part, content).unwrap();
        std::fs::rename(&part, &path).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A server with rooms: a key pair, `rooms` as the rooms file.
pub(crate) struct Visit {
    pub(crate) scratch: Scratch,
    pub(crate) keys: NewKeys,
    pub(crate) rooms_file: PathBuf,
    pub(crate) server: Server,
}

impl Visit {
    /// `rooms` (the rooms file's text) on a cheap chain for the patients.
    pub(crate) fn start(test: &str, rooms: &str) -> Visit {
        Visit::start_with(test, rooms, CHAIN)
    }

    /// `rooms` with `chain` as `--pipeline` (the patients' video).
    pub(crate) fn start_with(test: &str, rooms: &str, chain: &str) -> Visit {
        let scratch = Scratch::new(test);
        let keys = new_keys(&scratch.0.join("keys"), KeyKind::Ed25519).unwrap();
        let rooms_file = scratch.file("rooms.json", rooms);
        let mut config = ServeConfig::new(support::pipeline(chain));
        config.keys = Some(keys.jwks.clone());
        config.rooms = Some(rooms_file.clone());
        config.admin_token = Some(ADMIN.to_owned());
        let server = Server::start(config).expect("server starts");
        Visit {
            scratch,
            keys,
            rooms_file,
            server,
        }
    }

    pub(crate) fn token(&self, sub: &str, role: &str, room: Option<&str>) -> String {
        signed_token(&self.keys, sub, role, room)
    }

    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.server.http_addr())
    }
}

/// A 10-minute token for the default audience, signed with `keys`: for
/// `room`, or for no room in particular.
pub(crate) fn signed_token(keys: &NewKeys, sub: &str, role: &str, room: Option<&str>) -> String {
    make_token(&TokenRequest {
        key: keys.private.clone(),
        sub: sub.to_owned(),
        role: role.to_owned(),
        room: room.map(str::to_owned),
        ttl_s: 600,
        audience: "framechain".to_owned(),
        kid: None,
        now_unix: now_unix(),
    })
    .unwrap()
}
