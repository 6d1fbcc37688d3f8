//! Who may do what: a stream's publish token and view token, presented as
//! `Authorization: Bearer TOKEN` (as WHIP and WHEP specify).

use std::collections::HashMap;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::StreamSpec;

/// What a token lets its holder do on one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Send media (WHIP).
    Publish,
    /// Receive the processed media and the stream's statistics (WHEP).
    View,
}

/// Why a request is refused before anything else happens.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No `Authorization: Bearer` header: 401.
    NoToken,
    /// The admin endpoints are off (no admin token configured): 404.
    /// Streams never give it: an unknown stream is [`Denied::WrongToken`].
    UnknownStream,
    /// A token that is not this stream's token for this role, or a
    /// stream that does not exist: 403. One answer for both, so that a
    /// junk token does not tell which stream names exist.
    WrongToken,
}

/// The streams' tokens, kept only as SHA-256 digests: comparing digests of
/// equal length in constant time reveals neither a token's bytes nor its
/// length, and a memory dump holds no token.
pub(crate) struct Tokens {
    streams: HashMap<String, [[u8; 32]; 2]>,
    /// Compared against when the stream does not exist, so that an
    /// unknown stream costs the same work as a wrong token: the digest of
    /// 32 random bytes, which no token can match.
    decoy: [u8; 32],
}

impl Tokens {
    pub(crate) fn new(streams: &[StreamSpec]) -> Tokens {
        let streams = streams
            .iter()
            .map(|spec| {
                (
                    spec.name.clone(),
                    [digest(&spec.publish_token), digest(&spec.view_token)],
                )
            })
            .collect();
        let secret: [u8; 32] = rand::random();
        Tokens {
            streams,
            decoy: digest_bytes(&secret),
        }
    }

    /// Whether `stream` is a configured stream (else `/whip/NAME` may be
    /// a room).
    pub(crate) fn has_stream(&self, stream: &str) -> bool {
        self.streams.contains_key(stream)
    }

    /// Checks the `Authorization` header value (if any) for `role` on
    /// `stream`. An unknown stream is a wrong token, after the same digest
    /// and comparison: the answer and its time do not tell whether the
    /// stream exists.
    pub(crate) fn check(
        &self,
        stream: &str,
        role: Role,
        authorization: Option<&[u8]>,
    ) -> Result<(), Denied> {
        let token = authorization.and_then(bearer).ok_or(Denied::NoToken)?;
        let expected = match (self.streams.get(stream), role) {
            (Some(digests), Role::Publish) => &digests[0],
            (Some(digests), Role::View) => &digests[1],
            (None, _) => &self.decoy,
        };
        let matches = bool::from(digest_bytes(token).ct_eq(expected));
        if matches && self.streams.contains_key(stream) {
            Ok(())
        } else {
            Err(Denied::WrongToken)
        }
    }
}

/// The operator's token for `/admin/...`, kept as a digest like the
/// streams' tokens. Without one, the admin endpoints do not exist (404).
pub(crate) struct AdminToken(Option<[u8; 32]>);

impl AdminToken {
    pub(crate) fn new(token: Option<&str>) -> AdminToken {
        AdminToken(token.map(digest))
    }

    /// Whether the operator gave a token (else the admin endpoints are off).
    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }

    pub(crate) fn check(&self, authorization: Option<&[u8]>) -> Result<(), Denied> {
        let expected = self.0.as_ref().ok_or(Denied::UnknownStream)?;
        let token = authorization.and_then(bearer).ok_or(Denied::NoToken)?;
        if bool::from(digest_bytes(token).ct_eq(expected)) {
            Ok(())
        } else {
            Err(Denied::WrongToken)
        }
    }
}

/// The token of `Bearer TOKEN` (the scheme is case-insensitive).
fn bearer(header: &[u8]) -> Option<&[u8]> {
    let header = header.trim_ascii();
    let (scheme, rest) = header.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") || !rest.first()?.is_ascii_whitespace() {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

fn digest(token: &str) -> [u8; 32] {
    digest_bytes(token.as_bytes())
}

fn digest_bytes(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens::new(&[
            StreamSpec::parse("room1:publish-one:view-one").unwrap(),
            StreamSpec::parse("room2:publish-two:view-two").unwrap(),
        ])
    }

    #[test]
    fn each_token_opens_only_its_own_door() {
        let tokens = tokens();
        assert_eq!(
            tokens.check("room1", Role::Publish, Some(b"Bearer publish-one")),
            Ok(())
        );
        assert_eq!(
            tokens.check("room1", Role::View, Some(b"bearer  view-one ")),
            Ok(())
        );
        assert_eq!(
            tokens.check("room1", Role::View, Some(b"Bearer publish-one")),
            Err(Denied::WrongToken)
        );
        assert_eq!(
            tokens.check("room1", Role::Publish, Some(b"Bearer publish-two")),
            Err(Denied::WrongToken)
        );
        assert_eq!(
            tokens.check("room1", Role::Publish, Some(b"Bearer publish-on")),
            Err(Denied::WrongToken)
        );
        // An unknown stream is not told apart from a wrong token.
        assert_eq!(
            tokens.check("room3", Role::Publish, Some(b"Bearer publish-one")),
            Err(Denied::WrongToken)
        );
    }

    #[test]
    fn a_missing_or_malformed_header_is_no_token() {
        let tokens = tokens();
        for header in [
            None,
            Some(&b""[..]),
            Some(b"Bearer"),
            Some(b"Bearer "),
            Some(b"Basic publish-one"),
            Some(b"Bearerpublish-one"),
        ] {
            assert_eq!(
                tokens.check("room1", Role::Publish, header),
                Err(Denied::NoToken),
                "{header:?}"
            );
        }
    }
}
