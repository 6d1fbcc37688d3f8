//! The centre's routes.
//!
//! - `POST /whip/ROOM`, `POST /whep/ROOM/PARTICIPANT`: the user's token
//!   (`401`), a token for another room (`403`), the room (`404`), the
//!   watched participant (`404`), the room's window (`403`), a pod for it
//!   (`503`); then `307 Temporary Redirect` to `POD/whip/ROOM?ticket=T`
//!   (the same path on the pod). The offer is not read: the browser sends
//!   it again to the pod, as a 307 requires.
//! - `OPTIONS` of both: the CORS preflight (pages on another origin POST
//!   with `Authorization` and `Content-Type: application/sdp`).
//! - `POST /admin/rooms`, `GET /admin/rooms`, `DELETE /admin/rooms/ROOM`
//!   with the admin token.
//! - `GET /center/ticket-keys.json`, `GET /center/status.json`, `GET /`
//!   (the status page), `GET /healthz`, `GET /readyz`, `GET /metrics`
//!   (Prometheus, [`crate::metrics`]).
//!
//! Every refusal is one line of text that never quotes a token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use framechain_identity::Claims;

use crate::placement::NoPod;
use crate::rooms::{Room, id_is_valid};
use crate::state::Center;
use crate::store::PlaceError;
use crate::tickets::Act;

/// The largest request body read (a room object).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Seconds a client is told to wait when no pod can take its room.
const RETRY_AFTER_SECS: &str = "5";

type Shared = Arc<Center>;

/// The router of every route above.
pub fn router(center: Shared) -> Router {
    Router::new()
        .route("/whip/:room", post(publish).options(preflight))
        .route("/whep/:room/:participant", post(watch).options(preflight))
        .route("/admin/rooms", post(put_room).get(list_rooms))
        .route("/admin/rooms/:room", axum::routing::delete(delete_room))
        .route("/center/ticket-keys.json", get(ticket_keys))
        .route("/center/status.json", get(status_json))
        .route("/", get(status_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { text(StatusCode::NOT_FOUND, "no such page") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(center.clone(), count))
        .with_state(center)
}

/// Counts every request answered by route and status.
async fn count(
    State(center): State<Shared>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = crate::metrics::route_of(request.method(), request.uri().path());
    let response = next.run(request).await;
    center.metrics.request(route, response.status().as_u16());
    response
}

/// Unix seconds now.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

fn text(status: StatusCode, line: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        format!("{line}\n"),
    )
        .into_response()
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        value.to_string(),
    )
        .into_response()
}

/// The CORS headers of the WHIP/WHEP routes: any origin may POST with a
/// bearer token (no cookies are involved, so `*` gives nothing away), and
/// read the `Location`.
fn with_cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location"),
    );
    response
}

async fn preflight() -> Response {
    let mut response = with_cors(StatusCode::NO_CONTENT.into_response());
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

/// A request refused: status and one line.
pub(crate) struct Refused(pub StatusCode, pub String);

impl Refused {
    fn response(self) -> Response {
        let mut response = text(self.0, &self.1);
        match self.0 {
            StatusCode::UNAUTHORIZED => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
            }
            _ => {}
        }
        response
    }
}

fn unavailable(error: impl std::fmt::Display) -> Refused {
    log::warn!("{error}");
    Refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "the centre cannot reach its database; try again".into(),
    )
}

async fn publish(
    State(center): State<Shared>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Response {
    let location =
        |address: &str, room: &str, ticket: &str| format!("{address}/whip/{room}?ticket={ticket}");
    with_cors(
        redirect(&center, &headers, &room, None, Act::Publish, location)
            .await
            .unwrap_or_else(Refused::response),
    )
}

async fn watch(
    State(center): State<Shared>,
    Path((room, participant)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let location = |address: &str, room: &str, ticket: &str| {
        format!("{address}/whep/{room}/{participant}?ticket={ticket}")
    };
    with_cors(
        redirect(
            &center,
            &headers,
            &room,
            Some(&participant),
            Act::Watch,
            location,
        )
        .await
        .unwrap_or_else(Refused::response),
    )
}

/// The checks of the module's doc, then the `307`.
async fn redirect(
    center: &Center,
    headers: &HeaderMap,
    room: &str,
    participant: Option<&str>,
    act: Act,
    location: impl Fn(&str, &str, &str) -> String,
) -> Result<Response, Refused> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let now = now_unix();
    let claims: Claims = center
        .verifier
        .verify(authorization, now.max(0) as u64)
        .map_err(|refused| Refused(StatusCode::UNAUTHORIZED, refused.to_string()))?;
    if claims.room.as_deref().is_some_and(|own| own != room) {
        return Err(Refused(
            StatusCode::FORBIDDEN,
            "this token is for another room".into(),
        ));
    }
    let no_room = || Refused(StatusCode::NOT_FOUND, "no such room".into());
    if !id_is_valid(room) || participant.is_some_and(|id| !id_is_valid(id)) {
        return Err(no_room());
    }
    let spec = center
        .store
        .room(room)
        .await
        .map_err(unavailable)?
        .ok_or_else(no_room)?;
    if let Some(participant) = participant
        && spec.role_of(participant).is_none()
    {
        return Err(Refused(
            StatusCode::NOT_FOUND,
            "no such participant in this room".into(),
        ));
    }
    if !spec.open_at(now) {
        return Err(Refused(
            StatusCode::FORBIDDEN,
            "the room is not open now".into(),
        ));
    }
    let (placed, pod) = center.place(room).await.map_err(|error| match error {
        PlaceError::NoRoom => no_room(),
        PlaceError::NoPod(why) => {
            log::info!("room {room}: no pod: {why}");
            Refused(
                StatusCode::SERVICE_UNAVAILABLE,
                match why {
                    NoPod::NoLabelMatch => "no pod can hold this room where it must run".into(),
                    _ => "no pod can take this room now; try again".into(),
                },
            )
        }
        PlaceError::Db(error) => unavailable(error),
    })?;
    let ticket = center
        .tickets
        .sign(
            &claims,
            room,
            act,
            &placed.placement.node,
            now.max(0) as u64,
        )
        .map_err(|error| {
            log::error!("signing a ticket: {error}");
            Refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the centre could not sign a ticket".into(),
            )
        })?;
    match act {
        Act::Publish => &center.metrics.tickets_publish,
        Act::Watch => &center.metrics.tickets_watch,
    }
    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let target = location(&pod.address, room, &ticket);
    let target = HeaderValue::from_str(&target).map_err(|_| {
        Refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the pod's address does not make a URL".into(),
        )
    })?;
    log::info!(
        "room {room}: {} to {} {}",
        claims.sub,
        placed.placement.node,
        act.name()
    );
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    response.headers_mut().insert(header::LOCATION, target);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn admin_refusal(center: &Center, headers: &HeaderMap) -> Option<Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if center.admin.allows(authorization) {
        return None;
    }
    Some(
        Refused(
            StatusCode::UNAUTHORIZED,
            "the admin token is required (Authorization: Bearer TOKEN)".into(),
        )
        .response(),
    )
}

async fn put_room(State(center): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = admin_refusal(&center, &headers) {
        return refused;
    }
    let room = match Room::parse(&body) {
        Ok(room) => room,
        Err(problem) => return text(StatusCode::BAD_REQUEST, &problem.to_string()),
    };
    match add_room(&center, &room).await {
        Ok((created, node)) => json(
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            &serde_json::json!({ "room": room.spec.room, "created": created, "node": node }),
        ),
        Err(refused) => refused.response(),
    }
}

/// Stores a room and places it at once when a pod can take it (so that its
/// pod knows it before anyone arrives); publishes its new spec when it was
/// placed already. Returns whether it is new and where it runs.
pub(crate) async fn add_room(
    center: &Center,
    room: &Room,
) -> Result<(bool, Option<String>), Refused> {
    let created = center.store.put_room(room).await.map_err(unavailable)?;
    if room.not_after.is_some_and(|end| end <= now_unix()) {
        // Its window has closed: it takes no pod's place.
        return Ok((created, None));
    }
    let node = match center.place(&room.spec.room).await {
        Ok((placed, _)) => {
            if !placed.changed
                && let Err(error) = center
                    .redis
                    .publish_room(&room.spec.room, &placed.placement.node, &placed.room_json)
                    .await
            {
                log::warn!(
                    "{error}; room {} is published at the next sync",
                    room.spec.room
                );
            }
            Some(placed.placement.node)
        }
        Err(PlaceError::NoPod(why)) => {
            log::info!("room {}: not placed yet: {why}", room.spec.room);
            None
        }
        Err(PlaceError::NoRoom) => None,
        Err(PlaceError::Db(error)) => return Err(unavailable(error)),
    };
    Ok((created, node))
}

async fn delete_room(
    State(center): State<Shared>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = admin_refusal(&center, &headers) {
        return refused;
    }
    match center.store.delete_room(&room).await {
        Ok(true) => {
            if let Err(error) = center.redis.withdraw_room(&room).await {
                log::warn!("{error}; room {room} is withdrawn at the next sync");
            }
            log::info!("room {room} deleted by the admin API");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => text(StatusCode::NOT_FOUND, "no such room"),
        Err(error) => unavailable(error).response(),
    }
}

async fn list_rooms(State(center): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(refused) = admin_refusal(&center, &headers) {
        return refused;
    }
    match center.store.rooms().await {
        Ok(rooms) => json(
            StatusCode::OK,
            &serde_json::to_value(rooms.iter().map(|room| &room.spec).collect::<Vec<_>>())
                .expect("rooms serialise"),
        ),
        Err(error) => unavailable(error).response(),
    }
}

async fn ticket_keys(State(center): State<Shared>) -> Response {
    json(StatusCode::OK, &center.tickets.jwks())
}

/// `GET /metrics`: the pods by state and the rooms come from the last
/// heartbeat round and PostgreSQL; without PostgreSQL the scrape says
/// `503` (and `/readyz` does too).
async fn metrics(State(center): State<Shared>) -> Response {
    let alive = center.sight.last();
    let read = async {
        Ok::<_, crate::db::DbError>((
            center.store.known_pods().await?,
            center.store.placements().await?,
            center.store.rooms().await?,
        ))
    };
    let (known, placements, rooms) = match read.await {
        Ok(read) => read,
        Err(error) => return unavailable(error).response(),
    };
    let (mut ready, mut draining, mut not_ready) = (0, 0, 0);
    for pod in &alive {
        match (pod.ready, pod.draining) {
            (_, true) => draining += 1,
            (true, false) => ready += 1,
            (false, false) => not_ready += 1,
        }
    }
    let alive_names: std::collections::HashSet<&str> =
        alive.iter().map(|pod| pod.node.as_str()).collect();
    let dead = known
        .iter()
        .filter(|(status, _)| !alive_names.contains(status["node"].as_str().unwrap_or_default()))
        .count() as u64;
    let gauges = crate::metrics::Gauges {
        pods: [
            ("ready", ready),
            ("draining", draining),
            ("not_ready", not_ready),
            ("dead", dead),
        ],
        rooms: rooms.len() as u64,
        rooms_placed: placements.len() as u64,
        ticket_keys: center.tickets.published(0).len() as u64,
    };
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        crate::metrics::render(&center.metrics, &gauges, &center.ingest),
    )
        .into_response()
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok")
}

async fn readyz(State(center): State<Shared>) -> Response {
    match center.store.placements().await {
        Ok(_) => text(StatusCode::OK, "ready"),
        Err(error) => unavailable(error).response(),
    }
}

/// `GET /center/status.json`: the pods (alive or last seen), the rooms and
/// where each runs, the calls of the last day from the audit trail (where
/// each runs, whether it still does, its last summary's frames, drops and
/// latency), and the events ingest's counters.
pub async fn status(center: &Center) -> Result<serde_json::Value, String> {
    let alive = center.sight.last();
    let placements = center.store.placements().await.map_err(|e| e.to_string())?;
    let rooms = center.store.rooms().await.map_err(|e| e.to_string())?;
    let known = center.store.known_pods().await.map_err(|e| e.to_string())?;
    let mut placed_on: HashMap<&str, u32> = HashMap::new();
    for placement in &placements {
        *placed_on.entry(placement.node.as_str()).or_default() += 1;
    }
    let alive_names: std::collections::HashSet<&str> =
        alive.iter().map(|pod| pod.node.as_str()).collect();
    let pods: Vec<serde_json::Value> = known
        .iter()
        .map(|(status, last_seen_ms)| {
            let node = status["node"].as_str().unwrap_or_default();
            serde_json::json!({
                "node": node,
                "alive": alive_names.contains(node),
                "status": status,
                "rooms": placed_on.get(node).copied().unwrap_or(0),
                "last_seen_ms": last_seen_ms,
            })
        })
        .collect();
    let by_room: HashMap<&str, _> = placements.iter().map(|p| (p.room.as_str(), p)).collect();
    let now = now_unix();
    let rooms: Vec<serde_json::Value> = rooms
        .iter()
        .map(|room| {
            let placement = by_room.get(room.spec.room.as_str());
            serde_json::json!({
                "room": room.spec.room,
                "open": room.open_at(now),
                "labels": room.spec.labels,
                "node": placement.map(|p| &p.node),
                "generation": placement.map(|p| p.generation),
                "previous_node": placement.and_then(|p| p.previous_node.as_ref()),
                "placed_at_ms": placement.map(|p| p.placed_at_ms),
            })
        })
        .collect();
    let calls = center.store.recent_calls().await?;
    Ok(serde_json::json!({
        "center": center.name,
        "pods": pods,
        "rooms": rooms,
        "calls": calls,
        "ingest": center.ingest.stats(),
    }))
}

async fn status_json(State(center): State<Shared>) -> Response {
    match status(&center).await {
        Ok(value) => json(StatusCode::OK, &value),
        Err(error) => unavailable(error).response(),
    }
}

async fn status_page(State(center): State<Shared>) -> Response {
    match status(&center).await {
        Ok(value) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            crate::page::render(&value),
        )
            .into_response(),
        Err(error) => unavailable(error).response(),
    }
}
