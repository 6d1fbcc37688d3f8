//! The routes of a visit. Every offer is checked in this order, and the
//! first failure answers with one line that never quotes the token:
//! the token (`401`), a token for another room (`403`), the room (`404`),
//! the watched participant (`404`), the room's window (`403`), the policy
//! (`403`). Only then does the offer reach the media loop.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::clock::format_rfc3339;
use super::registry::{EndCalls, RolePipeline, RoomEntry};
use super::rooms::Room;
use super::{Visits, now_unix};
use crate::auth::Role;
use crate::call::driver::{Command, PublishedVideo};
use crate::http::{HttpState, Shared, close_call, denied, open_call, text};
use crate::identity::Claims;

/// A policy input's `action`.
#[derive(Clone, Copy)]
enum Action {
    Publish,
    Watch,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Watch => "watch",
        }
    }
}

fn authorization(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
}

/// A request refused: its status and one line.
struct Refused {
    status: StatusCode,
    line: String,
}

impl Refused {
    fn new(status: StatusCode, line: impl Into<String>) -> Refused {
        Refused {
            status,
            line: line.into(),
        }
    }

    fn response(self) -> Response {
        let mut response = text(self.status, &self.line);
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The token's claims, or its `401`.
fn verified(visits: &Visits, headers: &HeaderMap) -> Result<Claims, Refused> {
    visits
        .verifier
        .verify(authorization(headers), now_unix().max(0) as u64)
        .map_err(|refused| Refused::new(StatusCode::UNAUTHORIZED, refused.to_string()))
}

/// A token that names a room is good for that room only.
fn for_this_room(claims: &Claims, room: &str) -> Result<(), Refused> {
    match &claims.room {
        Some(own) if own != room => Err(Refused::new(
            StatusCode::FORBIDDEN,
            "this token is for another room",
        )),
        _ => Ok(()),
    }
}

/// Who the caller is and the room, if they may do `action` (on
/// `participant`'s publication, for `watch`) now.
fn authorize(
    visits: &Visits,
    headers: &HeaderMap,
    room: &str,
    action: Action,
    participant: Option<&str>,
) -> Result<(Claims, Arc<RoomEntry>), Refused> {
    let claims = verified(visits, headers)?;
    for_this_room(&claims, room)?;
    let Some(entry) = visits.registry.get(room) else {
        return Err(Refused::new(StatusCode::NOT_FOUND, "no such room"));
    };
    if let Some(participant) = participant
        && entry.room.role_of(participant).is_none()
    {
        return Err(Refused::new(
            StatusCode::NOT_FOUND,
            "no such participant in this room",
        ));
    }
    let now = now_unix();
    if !entry.room.open_at(now) {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            window_line(&entry.room),
        ));
    }
    let mut resource = serde_json::json!({ "room": entry.room.policy_view() });
    if let Some(participant) = participant {
        resource["participant"] = participant.into();
    }
    let input = serde_json::json!({
        "user": { "id": claims.sub, "role": claims.role, "room": claims.room },
        "action": action.name(),
        "resource": resource,
        "time": format_rfc3339(now),
    });
    let decision = visits.policy.decide(&input);
    if !decision.allow {
        log::info!(
            "room {room}: {} refused to {}: {}",
            claims.sub,
            action.name(),
            decision.reason
        );
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            format!("the policy does not allow this: {}", decision.reason),
        ));
    }
    Ok((claims, entry))
}

/// Why a room takes no offer now.
fn window_line(room: &Room) -> String {
    let from = room.not_before.map(format_rfc3339);
    let to = room.not_after.map(format_rfc3339);
    match (from, to) {
        (Some(from), Some(to)) => format!("the room is open from {from} to {to}, not now"),
        (Some(from), None) => format!("the room opens at {from}"),
        (None, Some(to)) => format!("the room closed at {to}"),
        (None, None) => "the room is not open now".to_owned(),
    }
}

fn rooms_off() -> Response {
    text(
        StatusCode::NOT_FOUND,
        "rooms are off: start framechain serve with --keys",
    )
}

/// `POST /whip/ROOM`: the caller (the token's `sub`) publishes their
/// camera in the room, as the stream `ROOM/SUB`.
pub(crate) async fn publish(
    state: &HttpState,
    visits: &Visits,
    room: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let (claims, entry) = match authorize(visits, headers, room, Action::Publish, None) {
        Ok(allowed) => allowed,
        Err(refused) => return refused.response(),
    };
    let role = entry.room.role_of(&claims.sub).unwrap_or(&claims.role);
    let video = match entry.pipeline_for(role) {
        RolePipeline::Default => PublishedVideo::ServerPipeline,
        RolePipeline::Chain(pipeline) => PublishedVideo::Own(pipeline),
        RolePipeline::Forward => PublishedVideo::Forward,
    };
    let stream = format!("{room}/{}", claims.sub);
    let location = format!("/whip/{stream}");
    open_call(state, headers, body, &location, |offer, reply| {
        Command::OpenInRoom {
            stream,
            role: Role::Publish,
            offer,
            video,
            reply,
        }
    })
    .await
}

/// `POST /whep/ROOM/PARTICIPANT`: the caller watches a participant; the
/// call waits for the participant's publication when it has not begun.
pub(crate) async fn watch(
    State(state): State<Shared>,
    Path((room, participant)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = match &state.visits {
        None => text(StatusCode::NOT_FOUND, "no such stream"),
        Some(visits) => {
            match authorize(visits, &headers, &room, Action::Watch, Some(&participant)) {
                Err(refused) => refused.response(),
                Ok(_) => {
                    let stream = format!("{room}/{participant}");
                    let location = format!("/whep/{stream}");
                    open_call(&state, &headers, body, &location, |offer, reply| {
                        Command::OpenInRoom {
                            stream,
                            role: Role::View,
                            offer,
                            video: PublishedVideo::ServerPipeline,
                            reply,
                        }
                    })
                    .await
                }
            }
        }
    };
    state.metrics.http("whep", response.status().as_u16());
    response
}

/// `GET /rooms/ROOM`: who is in the room, who publishes now, and whose
/// video is redacted, for the call page. For a caller who may publish in
/// the room or watch one of its participants.
pub(crate) async fn room_info(
    State(state): State<Shared>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(visits) = &state.visits else {
        return rooms_off();
    };
    let entry = match authorize(visits, &headers, &room, Action::Publish, None) {
        Ok((_, entry)) => entry,
        Err(refused) => {
            // A participant who may only watch still sees the room.
            let watcher = entry_participants(&visits.registry.get(&room))
                .into_iter()
                .find_map(|(id, _)| {
                    authorize(visits, &headers, &room, Action::Watch, Some(&id)).ok()
                });
            match watcher {
                Some((_, entry)) => entry,
                None => return refused.response(),
            }
        }
    };
    let (reply, publishers) = tokio::sync::oneshot::channel();
    let asked = state
        .commands
        .send(Command::RoomPublishers {
            room: room.clone(),
            reply,
        })
        .await;
    let Ok((publishers, server_pipeline)) = (match asked {
        Ok(()) => publishers.await.map_err(|_| ()),
        Err(_) => Err(()),
    }) else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    };
    let participants: Vec<serde_json::Value> = entry_participants(&Some(entry.clone()))
        .into_iter()
        .map(|(id, role)| {
            let video = match entry.pipeline_for(&role) {
                RolePipeline::Forward => "forwarded",
                RolePipeline::Chain(pipeline) => redacted_or_processed(&pipeline),
                RolePipeline::Default => redacted_or_processed(&server_pipeline),
            };
            serde_json::json!({
                "id": id,
                "role": role,
                "publishing": publishers.contains(&id),
                "video": video,
            })
        })
        .collect();
    let body = serde_json::json!({
        "room": room,
        "participants": participants,
        "not_after": entry.room.not_after.map(format_rfc3339),
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// Every participant of a room with their role: the patient, the
/// clinicians, the others.
fn entry_participants(entry: &Option<Arc<RoomEntry>>) -> Vec<(String, String)> {
    let Some(entry) = entry else {
        return Vec::new();
    };
    let spec = &entry.room.spec;
    std::iter::once(&spec.patient)
        .chain(&spec.clinicians)
        .chain(spec.others.iter().map(|other| &other.id))
        .filter_map(|id| Some((id.clone(), entry.room.role_of(id)?.to_owned())))
        .collect()
}

/// What the call page tells about a pipeline: whether it redacts.
fn redacted_or_processed(pipeline: &framechain::Pipeline) -> &'static str {
    if pipeline.stage_index("redact").is_some() {
        "redacted"
    } else {
        "processed"
    }
}

/// `DELETE /whip/ROOM/PARTICIPANT/RESOURCE`: only the participant (a
/// token for the room with their `sub`) ends their publication.
pub(crate) async fn hang_up_publisher(
    State(state): State<Shared>,
    Path((room, participant, resource)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let response = hang_up(&state, &headers, room, participant, resource, Role::Publish).await;
    state.metrics.http("whip", response.status().as_u16());
    response
}

/// `DELETE /whep/ROOM/PARTICIPANT/RESOURCE`: a token for the room ends the
/// watching call (its resource is unguessable).
pub(crate) async fn hang_up_viewer(
    State(state): State<Shared>,
    Path((room, participant, resource)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let response = hang_up(&state, &headers, room, participant, resource, Role::View).await;
    state.metrics.http("whep", response.status().as_u16());
    response
}

async fn hang_up(
    state: &HttpState,
    headers: &HeaderMap,
    room: String,
    participant: String,
    resource: String,
    role: Role,
) -> Response {
    let Some(visits) = &state.visits else {
        return text(StatusCode::NOT_FOUND, "no such call");
    };
    let claims = match verified(visits, headers) {
        Ok(claims) => claims,
        Err(refused) => return refused.response(),
    };
    if let Err(refused) = for_this_room(&claims, &room) {
        return refused.response();
    }
    if role == Role::Publish && claims.sub != participant {
        return text(
            StatusCode::FORBIDDEN,
            "only the participant ends their own publication",
        );
    }
    close_call(state, format!("{room}/{participant}"), resource, role).await
}

/// Hands calls to end to the media loop.
pub(crate) async fn end_calls(state: &HttpState, ends: Vec<EndCalls>) {
    for end in ends {
        log::info!("room {}: ending calls: {}", end.room, end.reason);
        let command = Command::EndRoom {
            room: end.room,
            participants: end.participants,
            reason: end.reason,
        };
        if state.commands.send(command).await.is_err() {
            return;
        }
    }
}

/// `POST /admin/rooms` with the admin token and one room object: `201`
/// when new, `200` when it replaced a room; `400` with the line of what is
/// wrong (a pipeline is built and checked here).
pub(crate) async fn put_room(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = put(&state, &headers, body).await;
    state.metrics.http("admin", response.status().as_u16());
    response
}

async fn put(state: &Shared, headers: &HeaderMap, body: Bytes) -> Response {
    if let Err(why) = state.admin.check(authorization(headers)) {
        return denied(why);
    }
    let Some(visits) = state.visits.clone() else {
        return rooms_off();
    };
    let room = match Room::parse(&body) {
        Ok(room) => room,
        Err(problem) => return text(StatusCode::BAD_REQUEST, &problem.to_string()),
    };
    let name = room.spec.room.clone();
    // Building pipelines compiles stages: not on the network threads.
    let built = {
        let visits = visits.clone();
        tokio::task::spawn_blocking(move || {
            let prepared = visits.registry.prepare(room, false)?;
            visits.registry.put(prepared, now_unix())
        })
        .await
    };
    let (created, ends) = match built {
        Ok(Ok(done)) => done,
        Ok(Err(problem)) => return text(StatusCode::BAD_REQUEST, &problem.to_string()),
        Err(_) => return text(StatusCode::INTERNAL_SERVER_ERROR, "adding the room failed"),
    };
    end_calls(state, ends).await;
    log::info!(
        "room {name} {} by the admin API",
        if created { "added" } else { "replaced" }
    );
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "room": name, "created": created }).to_string(),
    )
        .into_response()
}

/// `DELETE /admin/rooms/ROOM` with the admin token: `204`, and every call
/// of the room ends at once; `404` for a room not known.
pub(crate) async fn delete_room(
    State(state): State<Shared>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Response {
    let response = delete(&state, &headers, &room).await;
    state.metrics.http("admin", response.status().as_u16());
    response
}

async fn delete(state: &HttpState, headers: &HeaderMap, room: &str) -> Response {
    if let Err(why) = state.admin.check(authorization(headers)) {
        return denied(why);
    }
    let Some(visits) = &state.visits else {
        return rooms_off();
    };
    match visits.registry.delete(room) {
        Some(end) => {
            end_calls(state, vec![end]).await;
            StatusCode::NO_CONTENT.into_response()
        }
        None => text(StatusCode::NOT_FOUND, "no such room"),
    }
}
