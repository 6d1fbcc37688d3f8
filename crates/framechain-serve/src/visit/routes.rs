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
use crate::edge::Edge;
use crate::front_door::PeerAddr;
use crate::http::{HttpState, Shared, close_call, denied, open_call, text};
use crate::identity::{Claims, TicketAction};

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

    fn event(self) -> framechain_events::Action {
        match self {
            Action::Publish => framechain_events::Action::Publish,
            Action::Watch => framechain_events::Action::Watch,
        }
    }

    fn ticket(self) -> TicketAction {
        match self {
            Action::Publish => TicketAction::Publish,
            Action::Watch => TicketAction::Watch,
        }
    }
}

/// A request with a placement ticket for a room not known here: the
/// centre has just placed it here, so the placement is read now rather
/// than at the next periodic read (which could send the client back to
/// the centre and round again).
async fn read_placement_for_ticket(
    visits: &Visits,
    edge: Option<&crate::edge::Edge>,
    room: &str,
    query: Option<&str>,
) {
    if let Some(edge) = edge
        && ticket_of(query).is_some()
        && visits.registry.get(room).is_none()
    {
        edge.read_placement_now().await;
    }
}

/// The `ticket` of a request's query (`?ticket=T`), when it has one.
pub(crate) fn ticket_of(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("ticket="))
}

/// What a room request brings beside its path: its query (a placement
/// ticket), and its client's address.
pub(crate) struct Asked<'a> {
    pub query: Option<&'a str>,
    pub peer: Option<std::net::SocketAddr>,
}

fn authorization(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
}

/// A request refused: its status and one line (and who asked, once
/// known, for the audit trail).
struct Refused {
    status: StatusCode,
    line: String,
    who: Option<String>,
}

impl Refused {
    fn new(status: StatusCode, line: impl Into<String>) -> Refused {
        Refused {
            status,
            line: line.into(),
            who: None,
        }
    }

    fn by(mut self, who: &str) -> Refused {
        self.who = Some(who.to_owned());
        self
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
    authorize_asked(visits, None, None, headers, room, action, participant)
        .map(|admitted| (admitted.claims, admitted.entry))
}

/// Who was let in, to which room, and the policy's word.
struct Admitted {
    claims: Claims,
    entry: Arc<RoomEntry>,
    decision: String,
}

/// The claims of a placement ticket (`?ticket=`), checked for this pod,
/// this action and this room.
fn ticketed(
    edge: Option<&Edge>,
    ticket: &str,
    room: &str,
    action: Action,
) -> Result<Claims, Refused> {
    let Some(edge) = edge.filter(|edge| edge.center.is_some()) else {
        return Err(Refused::new(
            StatusCode::UNAUTHORIZED,
            "this server takes no placement tickets (it has no --center)",
        ));
    };
    let ticket = edge
        .tickets
        .verify(ticket, now_unix().max(0) as u64)
        .map_err(|refused| Refused::new(StatusCode::UNAUTHORIZED, refused.to_string()))?;
    if ticket.action != action.ticket() {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            format!(
                "this placement ticket is to {}, not to {}",
                ticket.action.name(),
                action.name()
            ),
        )
        .by(&ticket.claims.sub));
    }
    if ticket.claims.room.as_deref() != Some(room) {
        return Err(Refused::new(
            StatusCode::FORBIDDEN,
            "this placement ticket is for another room",
        )
        .by(&ticket.claims.sub));
    }
    Ok(ticket.claims)
}

/// [`authorize`] with a placement ticket taken in place of the token.
fn authorize_asked(
    visits: &Visits,
    edge: Option<&Edge>,
    ticket: Option<&str>,
    headers: &HeaderMap,
    room: &str,
    action: Action,
    participant: Option<&str>,
) -> Result<Admitted, Refused> {
    let claims = match ticket {
        Some(ticket) => ticketed(edge, ticket, room, action)?,
        None => verified(visits, headers)?,
    };
    let sub = claims.sub.clone();
    authorize_claims(visits, claims, room, action, participant).map_err(|refused| refused.by(&sub))
}

fn authorize_claims(
    visits: &Visits,
    claims: Claims,
    room: &str,
    action: Action,
    participant: Option<&str>,
) -> Result<Admitted, Refused> {
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
    Ok(Admitted {
        claims,
        entry,
        decision: format!("allow: {}", decision.reason),
    })
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
    asked: Asked<'_>,
) -> Response {
    let admitted = match admit(state, visits, room, Action::Publish, None, headers, &asked).await {
        Ok(admitted) => admitted,
        Err(answered) => return answered,
    };
    let Admitted {
        claims,
        entry,
        decision,
    } = admitted;
    let role = entry
        .room
        .role_of(&claims.sub)
        .unwrap_or(&claims.role)
        .to_owned();
    let pipeline = entry.pipeline_for(&role);
    let video = match &pipeline {
        RolePipeline::Default => PublishedVideo::ServerPipeline,
        RolePipeline::Chain(pipeline) => PublishedVideo::Own(pipeline.clone()),
        RolePipeline::Forward => PublishedVideo::Forward,
    };
    let stream = format!("{room}/{}", claims.sub);
    let location = format!("/whip/{stream}");
    let opened_stream = stream.clone();
    let response = open_call(state, headers, body, &location, |offer, reply| {
        Command::OpenInRoom {
            stream: opened_stream,
            role: Role::Publish,
            offer,
            video,
            participant: claims.sub.clone(),
            client: asked.peer.map(|peer| peer.ip()),
            reply,
        }
    })
    .await;
    let join = Join {
        room,
        who: &claims.sub,
        role: &role,
        action: Action::Publish,
        stream: &stream,
        pipeline,
        decision,
        peer: asked.peer,
    };
    joined(state, join, response).await
}

/// What a pod does first with an offer to publish or watch (`action`,
/// of `participant` for a watch): a room not placed here is sent to the
/// centre (`307`), after reading the placement at once for a ticket the
/// centre has just issued; then the ticket or the token and the policy
/// decide. `Err` is the answer already made: the redirect, or the
/// refusal (recorded on a pod).
async fn admit(
    state: &HttpState,
    visits: &Visits,
    room: &str,
    action: Action,
    participant: Option<&str>,
    headers: &HeaderMap,
    asked: &Asked<'_>,
) -> Result<Admitted, Response> {
    let edge = state.edge.as_deref();
    read_placement_for_ticket(visits, edge, room, asked.query).await;
    if visits.registry.get(room).is_none() {
        let path = match participant {
            Some(participant) => format!("/whep/{room}/{participant}"),
            None => format!("/whip/{room}"),
        };
        if let Some(redirect) =
            edge.and_then(|edge| edge.to_centre(&with_query(&path, asked.query)))
        {
            return Err(redirect);
        }
    }
    let ticket = ticket_of(asked.query);
    match authorize_asked(visits, edge, ticket, headers, room, action, participant) {
        Ok(admitted) => Ok(admitted),
        Err(refused) => Err(refuse(state, room, action, asked.peer, refused).await),
    }
}

/// `path` with `query` (`?query`) when there is one.
fn with_query(path: &str, query: Option<&str>) -> String {
    match query {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    }
}

/// A join that was let in and answered by the media loop.
struct Join<'a> {
    /// The room; empty for a `--stream` join.
    room: &'a str,
    who: &'a str,
    role: &'a str,
    action: Action,
    stream: &'a str,
    pipeline: RolePipeline,
    decision: String,
    peer: Option<std::net::SocketAddr>,
}

/// The answer to a join, on a pod: a call made is recorded
/// (`participant_joined`, fsynced) before its answer leaves, and if the
/// record cannot be written the call is ended and the join refused with
/// `503` (no access without its record); an offer the media loop refused
/// is recorded as refused.
async fn joined(state: &HttpState, join: Join<'_>, response: Response) -> Response {
    let Some(edge) = &state.edge else {
        return response;
    };
    if response.status() != StatusCode::CREATED {
        let refused = Refused::new(response.status(), String::new()).by(join.who);
        let room = (!join.room.is_empty()).then_some(join.room);
        return record_refusal(edge, room, join.action, join.peer, refused, response).await;
    }
    let digest = match &join.pipeline {
        RolePipeline::Forward => "forward".to_owned(),
        RolePipeline::Chain(pipeline) => pipeline_digest(pipeline),
        RolePipeline::Default => current_pipeline(state)
            .await
            .map(|pipeline| pipeline_digest(&pipeline))
            .unwrap_or_default(),
    };
    let what = framechain_events::EventKind::ParticipantJoined {
        action: join.action.event(),
        role: join.role.to_owned(),
        address: join.peer.map(|peer| peer.to_string()).unwrap_or_default(),
        stream: join.stream.to_owned(),
        pipeline_digest: digest,
        decision: join.decision,
    };
    let audit = edge.audit.clone();
    // A `--stream` join has no room.
    let room = (!join.room.is_empty()).then(|| join.room.to_owned());
    let who = join.who.to_owned();
    let written =
        tokio::task::spawn_blocking(move || audit.record(room.as_deref(), Some(&who), what)).await;
    if matches!(written, Ok(Ok(()))) {
        return response;
    }
    // Fail closed: the answer never leaves, and the call it made ends.
    state.metrics.audit_refused_joins.inc();
    let resource = response
        .headers()
        .get(header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .and_then(|location| location.rsplit('/').next())
        .unwrap_or_default()
        .to_owned();
    let role = match join.action {
        Action::Publish => Role::Publish,
        Action::Watch => Role::View,
    };
    let _ = close_call(state, join.stream.to_owned(), resource, role).await;
    let mut refusal = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the audit trail cannot record this join now; try again later",
    );
    refusal
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    refusal
}

/// The pipeline new publishers get now.
async fn current_pipeline(state: &HttpState) -> Option<Arc<framechain::Pipeline>> {
    let (reply, current) = tokio::sync::oneshot::channel();
    state
        .commands
        .send(Command::Pipeline { reply })
        .await
        .ok()?;
    current.await.ok()
}

/// A pipeline's digest for the audit trail: SHA-256 over its stages'
/// component digests and parameters, in order.
pub(crate) fn pipeline_digest(pipeline: &framechain::Pipeline) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for stage in pipeline.stages() {
        hasher.update(stage.digest().as_bytes());
        hasher.update(b"\n");
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A refusal's answer, recorded on a pod (`participant_refused`).
async fn refuse(
    state: &HttpState,
    room: &str,
    action: Action,
    peer: Option<std::net::SocketAddr>,
    refused: Refused,
) -> Response {
    let Some(edge) = &state.edge else {
        return refused.response();
    };
    let response = Refused::new(refused.status, refused.line.clone()).response();
    record_refusal(edge, Some(room), action, peer, refused, response).await
}

/// Records `refused` (its line, or else the first line of `response`'s
/// body) and gives `response` back.
async fn record_refusal(
    edge: &Edge,
    room: Option<&str>,
    action: Action,
    peer: Option<std::net::SocketAddr>,
    refused: Refused,
    response: Response,
) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let reason = if refused.line.is_empty() {
        String::from_utf8_lossy(&bytes)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    } else {
        refused.line
    };
    edge.audit.record_later(
        room,
        refused.who.as_deref(),
        framechain_events::EventKind::ParticipantRefused {
            action: action.event(),
            address: peer.map(|peer| peer.to_string()).unwrap_or_default(),
            status: refused.status.as_u16(),
            reason: framechain::text::untrusted(&reason, framechain_events::event::MAX_FIELD_CHARS),
        },
    );
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// `POST /whep/ROOM/PARTICIPANT`: the caller watches a participant; the
/// call waits for the participant's publication when it has not begun.
pub(crate) async fn watch(
    State(state): State<Shared>,
    Path((room, participant)): Path<(String, String)>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    peer: Option<axum::Extension<PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let asked = Asked {
        query: query.as_deref(),
        peer: peer.map(|peer| peer.0.0),
    };
    let response = match &state.visits {
        None => text(StatusCode::NOT_FOUND, "no such stream"),
        Some(visits) => {
            watch_room(&state, visits, &room, &participant, &headers, body, asked).await
        }
    };
    state.metrics.http("whep", response.status().as_u16());
    response
}

async fn watch_room(
    state: &HttpState,
    visits: &Visits,
    room: &str,
    participant: &str,
    headers: &HeaderMap,
    body: Bytes,
    asked: Asked<'_>,
) -> Response {
    let admitted = match admit(
        state,
        visits,
        room,
        Action::Watch,
        Some(participant),
        headers,
        &asked,
    )
    .await
    {
        Ok(admitted) => admitted,
        Err(answered) => return answered,
    };
    let stream = format!("{room}/{participant}");
    let location = format!("/whep/{stream}");
    let opened_stream = stream.clone();
    let response = open_call(state, headers, body, &location, |offer, reply| {
        Command::OpenInRoom {
            stream: opened_stream,
            role: Role::View,
            offer,
            video: PublishedVideo::ServerPipeline,
            participant: admitted.claims.sub.clone(),
            client: asked.peer.map(|peer| peer.ip()),
            reply,
        }
    })
    .await;
    let watched_role = admitted
        .entry
        .room
        .role_of(participant)
        .unwrap_or_default()
        .to_owned();
    let own_role = admitted
        .entry
        .room
        .role_of(&admitted.claims.sub)
        .unwrap_or(&admitted.claims.role)
        .to_owned();
    let join = Join {
        room,
        who: &admitted.claims.sub,
        role: &own_role,
        action: Action::Watch,
        stream: &stream,
        pipeline: admitted.entry.pipeline_for(&watched_role),
        decision: admitted.decision,
        peer: asked.peer,
    };
    joined(state, join, response).await
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

/// With `--center`, rooms are the centre's: the admin API answers `409`.
fn placed_by_centre(state: &HttpState) -> Option<Response> {
    state
        .edge
        .as_ref()
        .filter(|edge| edge.center.is_some())
        .map(|_| {
            text(
                StatusCode::CONFLICT,
                "rooms are placed by the centre (--center): change them there",
            )
        })
}

/// Hands calls to end to the media loop.
pub(crate) async fn end_calls(state: &HttpState, ends: Vec<EndCalls>) {
    send_ends(&state.commands, ends).await;
}

/// Hands calls to end to the media loop through `commands`.
pub(crate) async fn send_ends(commands: &tokio::sync::mpsc::Sender<Command>, ends: Vec<EndCalls>) {
    for end in ends {
        log::info!("room {}: ending calls: {}", end.room, end.reason);
        let command = Command::EndRoom {
            room: end.room,
            participants: end.participants,
            reason: end.reason,
        };
        if commands.send(command).await.is_err() {
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
    if let Some(refusal) = placed_by_centre(state) {
        return refusal;
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
    if let Some(refusal) = placed_by_centre(state) {
        return refusal;
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

/// The participant a `--stream` join is recorded under: which of the
/// stream's two tokens let it in (a shared token names nobody more
/// precisely; the address tells callers apart).
pub(crate) fn stream_token_name(role: Role) -> &'static str {
    match role {
        Role::Publish => "stream-token:publish",
        Role::View => "stream-token:view",
    }
}

/// The answer to an offer on a `--stream` route, on a pod: recorded as a
/// room join is (`participant_joined` with the stream's pipeline digest,
/// fsynced before the answer leaves, `503` and the call ended when it
/// cannot be; `participant_refused` for an offer refused), with the
/// stream's name as the stream and no room.
pub(crate) async fn stream_joined(
    state: &HttpState,
    stream: &str,
    role: Role,
    peer: Option<std::net::SocketAddr>,
    response: Response,
) -> Response {
    let Some(edge) = &state.edge else {
        return response;
    };
    let action = stream_action(role);
    let who = stream_token_name(role);
    if response.status() != StatusCode::CREATED {
        let refused = Refused::new(response.status(), String::new()).by(who);
        return record_refusal(edge, None, action, peer, refused, response).await;
    }
    let join = Join {
        room: "",
        who,
        role: match role {
            Role::Publish => "stream-publisher",
            Role::View => "stream-viewer",
        },
        action,
        stream,
        pipeline: RolePipeline::Default,
        decision: format!("allow: the stream's {} token", action.name()),
        peer,
    };
    joined(state, join, response).await
}

/// What a `--stream` token's role lets its holder do, as the audit
/// trail names it.
fn stream_action(role: Role) -> Action {
    match role {
        Role::Publish => Action::Publish,
        Role::View => Action::Watch,
    }
}

/// A `--stream` offer refused before the media loop saw it (no token, a
/// wrong one), on a pod: recorded as `participant_refused`.
pub(crate) async fn stream_refused(
    state: &HttpState,
    role: Role,
    peer: Option<std::net::SocketAddr>,
    response: Response,
) -> Response {
    let Some(edge) = &state.edge else {
        return response;
    };
    let action = stream_action(role);
    let refused = Refused::new(response.status(), String::new());
    record_refusal(edge, None, action, peer, refused, response).await
}
