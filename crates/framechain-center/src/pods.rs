//! The centre's Redis: reading the pods' heartbeats and publishing the
//! placements, the rooms and the ticket keys the pods read
//! (`framechain_events::pod` names every key).
//!
//! A heartbeat is bytes a pod wrote; a pod is a machine at the edge, so a
//! heartbeat that does not parse, names another node, or gives an address
//! that is not a plain `http(s)://host[:port]` base URL (it becomes the
//! `Location` of a redirect) makes that pod dead to the centre, with one
//! warning line.

use std::collections::BTreeMap;

use framechain_events::PodStatus;
use framechain_events::pod::{
    PLACEMENT_HASH, PODS_SET, ROOMS_CHANGED_CHANNEL, ROOMS_HASH, TICKET_KEYS_KEY,
};
use redis::AsyncCommands as _;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;

use crate::tickets::PublishedKey;

/// The most pods read; a set larger than this is cut (and logged).
pub const MAX_PODS: usize = 10_000;
/// The longest heartbeat read, in bytes.
const MAX_HEARTBEAT_BYTES: usize = 16 * 1024;
/// The longest pod address taken.
const MAX_ADDRESS: usize = 256;

/// Why Redis could not be used: one line.
#[derive(Debug, thiserror::Error)]
#[error("Redis: {0}")]
pub struct RedisError(String);

impl From<redis::RedisError> for RedisError {
    fn from(error: redis::RedisError) -> RedisError {
        let text = error.to_string();
        let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
        RedisError(framechain_text::untrusted(&joined, 300))
    }
}

/// One connection to Redis, opened again when it breaks.
pub struct RedisLink {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisLink {
    /// A link to `url` (`redis://host:port`); connects on first use.
    ///
    /// # Errors
    /// The URL is not a Redis URL.
    pub fn new(url: &str) -> Result<RedisLink, RedisError> {
        Ok(RedisLink {
            client: redis::Client::open(url)?,
            connection: Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut guard = self.connection.lock().await;
        if let Some(connection) = guard.as_ref() {
            return Ok(connection.clone());
        }
        let connection = self.client.get_multiplexed_async_connection().await?;
        *guard = Some(connection.clone());
        Ok(connection)
    }

    /// Forgets the connection after an error, so the next use reconnects.
    async fn forget(&self) {
        *self.connection.lock().await = None;
    }

    async fn run<T, F, Fut>(&self, work: F) -> Result<T, RedisError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, redis::RedisError>>,
    {
        let connection = self.connection().await?;
        match work(connection).await {
            Ok(value) => Ok(value),
            Err(error) => {
                if error.is_io_error() || error.is_connection_dropped() {
                    self.forget().await;
                }
                Err(error.into())
            }
        }
    }

    /// The live pods: every member of `framechain:pods` whose heartbeat key
    /// exists and reads as a usable [`PodStatus`], by name.
    ///
    /// # Errors
    /// [`RedisError`].
    pub async fn alive_pods(&self) -> Result<Vec<PodStatus>, RedisError> {
        let mut names: Vec<String> = self
            .run(|mut connection| async move { connection.smembers(PODS_SET).await })
            .await?;
        names.sort();
        if names.len() > MAX_PODS {
            log::warn!("{PODS_SET} has {} members; reading {MAX_PODS}", names.len());
            names.truncate(MAX_PODS);
        }
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = names.iter().map(|name| PodStatus::key(name)).collect();
        let values: Vec<Option<Vec<u8>>> = self
            .run(|mut connection| async move {
                redis::cmd("MGET")
                    .arg(&keys)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(names
            .iter()
            .zip(values)
            .filter_map(|(name, value)| match heartbeat(name, value.as_deref()?) {
                Ok(status) => Some(status),
                Err(why) => {
                    log::warn!(
                        "pod {}: heartbeat ignored: {why}",
                        framechain_text::untrusted(name, 64)
                    );
                    None
                }
            })
            .collect())
    }

    /// Publishes where `room` runs and the room itself, and nudges the pods.
    ///
    /// # Errors
    /// [`RedisError`].
    pub async fn publish_room(
        &self,
        room: &str,
        node: &str,
        room_json: &str,
    ) -> Result<(), RedisError> {
        let (room, node, room_json) = (room.to_owned(), node.to_owned(), room_json.to_owned());
        self.run(|mut connection| async move {
            redis::pipe()
                .atomic()
                .hset(PLACEMENT_HASH, &room, &node)
                .ignore()
                .hset(ROOMS_HASH, &room, &room_json)
                .ignore()
                .publish(ROOMS_CHANGED_CHANNEL, &room)
                .ignore()
                .query_async::<()>(&mut connection)
                .await
        })
        .await
    }

    /// Withdraws `room` from the pods.
    ///
    /// # Errors
    /// [`RedisError`].
    pub async fn withdraw_room(&self, room: &str) -> Result<(), RedisError> {
        let room = room.to_owned();
        self.run(|mut connection| async move {
            redis::pipe()
                .atomic()
                .hdel(PLACEMENT_HASH, &room)
                .ignore()
                .hdel(ROOMS_HASH, &room)
                .ignore()
                .publish(ROOMS_CHANGED_CHANNEL, &room)
                .ignore()
                .query_async::<()>(&mut connection)
                .await
        })
        .await
    }

    /// Makes both hashes say exactly `placed` (room → (node, room JSON)):
    /// heals a publication lost while Redis was away, a room deleted
    /// meanwhile, or a Redis that lost its data. Nudges the pods when
    /// anything changed.
    ///
    /// # Errors
    /// [`RedisError`].
    pub async fn sync(
        &self,
        placed: BTreeMap<String, (String, String)>,
    ) -> Result<bool, RedisError> {
        self.run(|mut connection| async move {
            let nodes: BTreeMap<String, String> = connection.hgetall(PLACEMENT_HASH).await?;
            let rooms: BTreeMap<String, String> = connection.hgetall(ROOMS_HASH).await?;
            let mut pipe = redis::pipe();
            pipe.atomic();
            let mut changed = false;
            for room in nodes.keys().chain(rooms.keys()) {
                if !placed.contains_key(room) {
                    pipe.hdel(PLACEMENT_HASH, room).ignore();
                    pipe.hdel(ROOMS_HASH, room).ignore();
                    changed = true;
                }
            }
            for (room, (node, json)) in &placed {
                if nodes.get(room) != Some(node) || rooms.get(room) != Some(json) {
                    pipe.hset(PLACEMENT_HASH, room, node).ignore();
                    pipe.hset(ROOMS_HASH, room, json).ignore();
                    changed = true;
                }
            }
            if changed {
                pipe.publish(ROOMS_CHANGED_CHANNEL, "*").ignore();
                pipe.query_async::<()>(&mut connection).await?;
            }
            Ok(changed)
        })
        .await
    }

    /// Publishes this replica's public ticket keys for the pods, merged
    /// with the other replicas' ([`TICKET_KEYS_PUBLISHED`]): each key is
    /// published until the latest time any replica gave it, a key past its
    /// time is dropped, and `framechain:ticket-keys` becomes the JWKS of
    /// the keys left, in one step (a script), with a nudge to the pods
    /// when it changed. Returns whether it changed.
    ///
    /// # Errors
    /// [`RedisError`].
    pub async fn publish_ticket_keys(
        &self,
        now_unix: u64,
        keys: &[PublishedKey],
    ) -> Result<bool, RedisError> {
        let mut script = redis::cmd("EVAL");
        script
            .arg(PUBLISH_TICKET_KEYS)
            .arg(2)
            .arg(TICKET_KEYS_PUBLISHED)
            .arg(TICKET_KEYS_KEY)
            .arg(now_unix)
            .arg(ROOMS_CHANGED_CHANNEL);
        for key in keys {
            script.arg(&key.kid).arg(key.until).arg(key.jwk.to_string());
        }
        self.run(|mut connection| async move {
            let changed: i64 = script.query_async(&mut connection).await?;
            Ok(changed == 1)
        })
        .await
    }
}

/// The centre replicas' published ticket keys (a hash: kid → `UNTIL JWK`,
/// UNTIL in Unix seconds), from which `framechain:ticket-keys` is made.
/// Only the centre reads it.
pub const TICKET_KEYS_PUBLISHED: &str = "framechain:ticket-keys:published";

/// KEYS: the published hash, the JWKS key. ARGV: now, the nudge channel,
/// then (kid, until, jwk) per key. A key's time is only ever moved later
/// (another replica may still sign with a key this one retired); keys past
/// their time are dropped; the JWKS lists the rest sorted, so that an
/// unchanged set is the same text (the pods compare it).
const PUBLISH_TICKET_KEYS: &str = r#"
local now = tonumber(ARGV[1])
for i = 3, #ARGV, 3 do
  local kid, untl, jwk = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local old = redis.call('HGET', KEYS[1], kid)
  if old then
    local was = tonumber(string.match(old, '^(%d+) '))
    if was and was > untl then untl = was end
  end
  redis.call('HSET', KEYS[1], kid, string.format('%d', untl) .. ' ' .. jwk)
end
local parts = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local untl, jwk = string.match(all[i + 1], '^(%d+) (.*)$')
  if untl == nil or tonumber(untl) < now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    table.insert(parts, jwk)
  end
end
table.sort(parts)
local jwks = '{"keys":[' .. table.concat(parts, ',') .. ']}'
if redis.call('GET', KEYS[2]) == jwks then return 0 end
redis.call('SET', KEYS[2], jwks)
redis.call('PUBLISH', ARGV[2], '*')
return 1
"#;

/// A heartbeat read as a [`PodStatus`], or why it is not usable.
fn heartbeat(name: &str, bytes: &[u8]) -> Result<PodStatus, String> {
    if bytes.len() > MAX_HEARTBEAT_BYTES {
        return Err(format!("over {MAX_HEARTBEAT_BYTES} bytes"));
    }
    let status: PodStatus = serde_json::from_slice(bytes)
        .map_err(|error| framechain_text::untrusted(&error.to_string(), 160))?;
    if status.node != name {
        return Err("it names another node".into());
    }
    if !crate::rooms::id_is_valid(&status.node) {
        return Err("its node name is not 1 to 64 letters, digits, '-', '_' or '.'".into());
    }
    if !address_is_usable(&status.address) {
        return Err("its address is not an http(s)://host[:port] base URL".into());
    }
    Ok(status)
}

/// Whether `address` is `http://` or `https://` and a host (and port)
/// only: no path, query, fragment, user info, space or control character,
/// so that `ADDRESS/whip/ROOM?ticket=…` is the URL it looks like.
pub fn address_is_usable(address: &str) -> bool {
    let Some(rest) = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
    else {
        return false;
    };
    address.len() <= MAX_ADDRESS
        && !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_base_urls_are_pod_addresses() {
        for good in [
            "http://127.0.0.1:8081",
            "https://pod-1.edge.example",
            "http://[::1]:80",
        ] {
            assert!(address_is_usable(good), "{good}");
        }
        for bad in [
            "",
            "ftp://x",
            "http://",
            "http://evil.example/path",
            "http://a@b",
            "http://x?y",
            "http://x\r\nSet-Cookie: a",
            "javascript:alert(1)",
        ] {
            assert!(!address_is_usable(bad), "{bad:?}");
        }
    }
}
