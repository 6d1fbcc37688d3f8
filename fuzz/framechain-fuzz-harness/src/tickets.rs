//! Placement tickets (`framechain_identity::TicketVerifier`): what a pod
//! checks in the query of a request the centre redirected, before it runs
//! its policy. Anyone can put anything there.

use std::sync::OnceLock;

use framechain_identity::{KeyKind, SigningKey, TicketRefused, TicketVerifier};

use crate::assert_one_line;

/// The pod the verifier is for.
const NODE: &str = "pod-a";
/// The pod's clock, Unix seconds, for every input (tickets in the seeds
/// are made for it).
pub const NOW: u64 = 1_800_000_000;

/// The centre's ticket key (its public half is the verifier's key set) and
/// a key the pod does not know, made once per process.
struct Keys {
    centre: SigningKey,
    stranger: SigningKey,
    jwks: String,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let centre = SigningKey::generate(KeyKind::Ed25519).expect("a ticket key");
        let stranger = SigningKey::generate(KeyKind::P256).expect("a second key");
        let jwks =
            serde_json::json!({ "keys": [centre.public_jwk(&centre.thumbprint())] }).to_string();
        Keys {
            centre,
            stranger,
            jwks,
        }
    })
}

/// The first byte chooses what the rest is: `0` the ticket's text as it
/// would stand in the query; `1` the claims (JSON) of a ticket signed with
/// the centre's key, so that the checks behind the signature are reached;
/// `2` the claims of a ticket signed with a key the pod does not know.
/// A ticket refused is refused in one line that does not quote it; a
/// ticket taken names a room and an action, and is refused as used when
/// it comes again; nothing signed by the stranger is ever taken.
pub fn ticket(data: &[u8]) {
    ticket_is_taken(data);
}

/// Runs [`ticket`]: whether the ticket was taken (for tests that the seeds
/// reach past the checks they should).
pub fn ticket_is_taken(data: &[u8]) -> bool {
    let Some((&mode, rest)) = data.split_first() else {
        return false;
    };
    let keys = keys();
    let (ticket, stranger) = match mode % 3 {
        0 => (String::from_utf8_lossy(rest).into_owned(), false),
        signed => {
            let Ok(claims) = serde_json::from_slice::<serde_json::Value>(rest) else {
                return false;
            };
            let key = if signed == 1 {
                &keys.centre
            } else {
                &keys.stranger
            };
            let Ok(ticket) = key.sign(&claims, &key.thumbprint()) else {
                return false;
            };
            (ticket, signed == 2)
        }
    };
    let verifier = TicketVerifier::new(NODE);
    verifier.set_keys(&keys.jwks).expect("the centre's key set");
    match verifier.verify(&ticket, NOW) {
        Ok(taken) => {
            assert!(!stranger, "a ticket signed by an unknown key was taken");
            assert!(taken.claims.room.is_some());
            assert!(!taken.jti.is_empty());
            assert_eq!(
                verifier.verify(&ticket, NOW),
                Err(TicketRefused::Replayed),
                "a ticket opened a door twice"
            );
            true
        }
        Err(refused) => {
            let line = refused.to_string();
            assert_one_line(&line);
            if ticket.len() >= 16 {
                assert!(!line.contains(&ticket), "a refusal quotes the ticket");
            }
            false
        }
    }
}
