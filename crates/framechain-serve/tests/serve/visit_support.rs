//! A server holding visits for a test: a fresh key pair and its JWKS, a
//! rooms file, the default policy, and signed tokens made the way
//! `framechain token` makes them.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use framechain_serve::identity::tools::{KeyKind, TokenRequest, make_token, new_keys};
use framechain_serve::{ServeConfig, Server};
use serde_json::{Value, json};

use crate::support::{TELEMEDICINE, pipeline};

/// A running server with rooms, and the private key its tokens are signed
/// with.
pub struct VisitServer {
    server: Server,
    private_key: PathBuf,
}

impl VisitServer {
    /// Keys in `dir/keys`, the rooms file `dir/rooms.json` holding `rooms`,
    /// the telemedicine chain as `--pipeline` (the patients' video).
    pub fn start(dir: &Path, rooms: &[Value]) -> VisitServer {
        let keys = new_keys(&dir.join("keys"), KeyKind::Ed25519).expect("a new key pair");
        let rooms_file = dir.join("rooms.json");
        std::fs::write(&rooms_file, Value::Array(rooms.to_vec()).to_string()).unwrap();
        let mut config = ServeConfig::new(pipeline(TELEMEDICINE));
        config.keys = Some(keys.jwks);
        config.rooms = Some(rooms_file);
        let server = Server::start(config).expect("the server starts");
        VisitServer {
            server,
            private_key: keys.private,
        }
    }

    /// A token for `sub` with `role`, valid for an hour, for `room` only
    /// when given.
    pub fn token(&self, sub: &str, role: &str, room: Option<&str>) -> String {
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        make_token(&TokenRequest {
            key: self.private_key.clone(),
            sub: sub.to_owned(),
            role: role.to_owned(),
            room: room.map(str::to_owned),
            ttl_s: 3600,
            audience: "framechain".to_owned(),
            kid: None,
            now_unix,
        })
        .expect("a signed token")
    }
}

impl std::ops::Deref for VisitServer {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

/// The minimal room object.
pub fn room_json(room: &str, patient: &str, clinicians: &[&str]) -> Value {
    json!({ "room": room, "patient": patient, "clinicians": clinicians })
}
