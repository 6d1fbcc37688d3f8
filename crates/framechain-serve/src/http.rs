//! The HTTP side: WHIP and WHEP resources, the watch page's numbers, the
//! probes, the metrics and the pages. Requests are checked here (size,
//! type, token) and passed to the media loop, which owns every call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use framechain::live::LiveRuntime;
use tokio::sync::{mpsc, oneshot};

use crate::auth::{AdminToken, Denied, Role, Tokens};
use crate::call::driver::{Command, Created, Refusal};
use crate::call::start_health::StartHealth;
use crate::metrics::Metrics;
use crate::offer::{MAX_OFFER_BYTES, OfferError};

/// Seconds a refused publisher is told to wait before trying again.
const RETRY_AFTER_SECS: &str = "5";

pub(crate) struct HttpState {
    pub tokens: Tokens,
    pub admin: AdminToken,
    /// One swap at a time: each is built against the pipeline the last one
    /// left.
    pub swapping: tokio::sync::Mutex<()>,
    pub commands: mpsc::Sender<Command>,
    pub metrics: Arc<Metrics>,
    pub runtime: Arc<LiveRuntime>,
    pub max_sessions: usize,
    /// Set by [`crate::Server::start_draining`]: no new calls, the running
    /// ones go on.
    pub draining: Arc<AtomicBool>,
    /// Whether new sessions start (the media loop's record).
    pub start_health: Arc<StartHealth>,
    /// Rooms, tokens and policy, with `--keys` (`crate::visit`).
    pub visits: Option<Arc<crate::visit::Visits>>,
    /// The pod's centre, with `--redis` (`crate::edge`).
    pub edge: Option<Arc<crate::edge::Edge>>,
    /// The origins whose pages may call the room routes (`crate::cors`).
    pub cors: Arc<crate::cors::CorsOrigins>,
}

pub(crate) type Shared = Arc<HttpState>;

pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/whip/:stream", post(whip_post))
        .route(
            "/whip/:stream/:resource",
            axum::routing::delete(whip_delete).patch(no_trickle),
        )
        .route("/whep/:stream", post(whep_post))
        // Two segments: a stream's viewer resource (DELETE), or a room
        // participant to watch (POST /whep/ROOM/PARTICIPANT).
        .route(
            "/whep/:stream/:resource",
            axum::routing::delete(whep_delete)
                .patch(no_trickle)
                .post(crate::visit::routes::watch),
        )
        .route(
            "/whip/:stream/:resource/:call",
            axum::routing::delete(crate::visit::routes::hang_up_publisher).patch(no_trickle),
        )
        .route(
            "/whep/:stream/:resource/:call",
            axum::routing::delete(crate::visit::routes::hang_up_viewer).patch(no_trickle),
        )
        .route("/rooms/:room", get(crate::visit::routes::room_info))
        .route("/admin/rooms", post(crate::visit::routes::put_room))
        .route(
            "/admin/rooms/:room",
            axum::routing::delete(crate::visit::routes::delete_room),
        )
        .route("/streams/:stream/stats", get(stats))
        .route("/admin/stages/:stage", post(swap_stage))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(page)
        .layer(DefaultBodyLimit::max(MAX_OFFER_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.cors.clone(),
            crate::cors::layer,
        ))
        .with_state(state)
}

pub(crate) fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

pub(crate) fn denied(denied: Denied) -> Response {
    match denied {
        Denied::NoToken => {
            let mut response = text(
                StatusCode::UNAUTHORIZED,
                "a bearer token is required (Authorization: Bearer TOKEN)",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Denied::UnknownStream => text(StatusCode::NOT_FOUND, "no such stream"),
        Denied::WrongToken => text(
            StatusCode::FORBIDDEN,
            "this token does not allow that on this stream",
        ),
    }
}

/// The refusal of a request whose token does not allow `role` on
/// `stream`, or `None` when it does.
fn refusal(state: &HttpState, headers: &HeaderMap, stream: &str, role: Role) -> Option<Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    state
        .tokens
        .check(stream, role, authorization)
        .err()
        .map(denied)
}

async fn whip_post(
    State(state): State<Shared>,
    Path(stream): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    peer: Option<axum::Extension<crate::front_door::PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A name that is no `--stream` is a room, when rooms are served.
    let response = match &state.visits {
        Some(visits) if !state.tokens.has_stream(&stream) => {
            let asked = crate::visit::routes::Asked {
                query: query.as_deref(),
                peer: peer.map(|peer| peer.0.0),
            };
            crate::visit::routes::publish(&state, visits, &stream, &headers, body, asked).await
        }
        _ => {
            let peer = peer.map(|peer| peer.0.0);
            offer(&state, &stream, Role::Publish, peer, &headers, body).await
        }
    };
    state.metrics.http("whip", response.status().as_u16());
    response
}

async fn whep_post(
    State(state): State<Shared>,
    Path(stream): Path<String>,
    peer: Option<axum::Extension<crate::front_door::PeerAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = peer.map(|peer| peer.0.0);
    let response = offer(&state, &stream, Role::View, peer, &headers, body).await;
    state.metrics.http("whep", response.status().as_u16());
    response
}

/// A `--stream` offer. On a pod each is recorded as a room join is
/// (`crate::visit::routes::stream_joined`): no access without its record.
async fn offer(
    state: &HttpState,
    stream: &str,
    role: Role,
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(response) = refusal(state, headers, stream, role) {
        return crate::visit::routes::stream_refused(state, role, peer, response).await;
    }
    let location = match role {
        Role::Publish => format!("/whip/{stream}"),
        Role::View => format!("/whep/{stream}"),
    };
    let participant = state
        .edge
        .is_some()
        .then(|| crate::visit::routes::stream_token_name(role).to_owned());
    let open = |offer, reply| Command::Open {
        stream: stream.to_owned(),
        role,
        offer,
        participant,
        client: peer.map(|peer| peer.ip()),
        reply,
    };
    let response = open_call(state, headers, body, &location, open).await;
    crate::visit::routes::stream_joined(state, stream, role, peer, response).await
}

/// The offer of an authorized request goes to the media loop (unless the
/// node drains, or it is not an SDP text) as the command `open` makes; a
/// call made is answered `201` with its `Location`, `LOCATION/RESOURCE`.
pub(crate) async fn open_call(
    state: &HttpState,
    headers: &HeaderMap,
    body: Bytes,
    location: &str,
    open: impl FnOnce(String, oneshot::Sender<Result<Created, Refusal>>) -> Command,
) -> Response {
    if state.draining.load(Ordering::Relaxed) {
        state.metrics.refused("draining");
        return retry_later("the node is draining before it stops; try another node");
    }
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("application/sdp"));
    if !is_sdp {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the offer must be sent as Content-Type: application/sdp",
        );
    }
    let Ok(offer) = String::from_utf8(body.to_vec()) else {
        return text(StatusCode::BAD_REQUEST, "the offer is not UTF-8 text");
    };
    let (reply, answer) = oneshot::channel();
    if state.commands.send(open(offer, reply)).await.is_err() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    }
    let Ok(result) = answer.await else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    };
    match result {
        Ok(created) => (
            StatusCode::CREATED,
            [
                (header::CONTENT_TYPE, "application/sdp".to_owned()),
                (header::LOCATION, format!("{location}/{}", created.resource)),
            ],
            created.answer,
        )
            .into_response(),
        Err(refusal) => refused(state, refusal),
    }
}

pub(crate) fn refused(state: &HttpState, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Offer(OfferError::Malformed(why)) => text(
            StatusCode::BAD_REQUEST,
            &format!("malformed SDP offer: {why}"),
        ),
        Refusal::Offer(OfferError::NoH264) => text(
            StatusCode::NOT_ACCEPTABLE,
            "the offer has no H.264 video (packetization-mode=1) in the needed direction",
        ),
        Refusal::StreamBusy => {
            state.metrics.refused("stream busy");
            text(StatusCode::CONFLICT, "the stream already has a publisher")
        }
        Refusal::Full(reason) => {
            state.metrics.refused(reason);
            retry_later("the node is full; try again later or another node")
        }
        Refusal::ViewersFull => {
            state.metrics.refused("viewers");
            retry_later("the stream has its most viewers")
        }
        Refusal::PendingOffers => {
            state.metrics.refused("pending offers");
            let mut response = text(
                StatusCode::TOO_MANY_REQUESTS,
                "too many viewer offers from this address are still connecting; connect or wait",
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
            response
        }
        Refusal::Internal(why) => {
            log::error!("cannot open a call: {why}");
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the call could not start",
            )
        }
    }
}

fn retry_later(message: &str) -> Response {
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, message);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

async fn whip_delete(
    State(state): State<Shared>,
    Path((stream, resource)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let response = close(&state, stream, resource, Role::Publish, &headers).await;
    state.metrics.http("whip", response.status().as_u16());
    response
}

async fn whep_delete(
    State(state): State<Shared>,
    Path((stream, resource)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let response = close(&state, stream, resource, Role::View, &headers).await;
    state.metrics.http("whep", response.status().as_u16());
    response
}

async fn close(
    state: &HttpState,
    stream: String,
    resource: String,
    role: Role,
    headers: &HeaderMap,
) -> Response {
    if let Some(response) = refusal(state, headers, &stream, role) {
        return response;
    }
    close_call(state, stream, resource, role).await
}

/// Ends the call of `role` on `stream` whose resource is `resource`
/// (authorized): `200`, or `404` when there is none.
pub(crate) async fn close_call(
    state: &HttpState,
    stream: String,
    resource: String,
    role: Role,
) -> Response {
    let (reply, found) = oneshot::channel();
    let command = Command::Close {
        stream,
        role,
        resource,
        reply,
    };
    if state.commands.send(command).await.is_err() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    }
    match found.await {
        Ok(true) => text(StatusCode::OK, "ended"),
        Ok(false) => text(StatusCode::NOT_FOUND, "no such call"),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        ),
    }
}

/// Trickle ICE is not needed: the answer holds the server's one candidate
/// (ICE-lite), and RFC 9725 lets a server refuse `PATCH` with 405.
async fn no_trickle() -> Response {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "trickle ICE is not supported: send the offer with all candidates",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("DELETE"));
    response
}

async fn stats(
    State(state): State<Shared>,
    Path(stream): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = refusal(&state, &headers, &stream, Role::View) {
        return response;
    }
    let (reply, report) = oneshot::channel();
    if state
        .commands
        .send(Command::Stats { stream, reply })
        .await
        .is_err()
    {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    }
    match report.await {
        Ok(Some(report)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&report).unwrap_or_default(),
        )
            .into_response(),
        _ => text(StatusCode::NOT_FOUND, "no such stream"),
    }
}

/// `POST /admin/stages/STAGE` with the admin token (with `--keys`: the
/// caller's own token, which the policy's `swap_stage` must allow,
/// `crate::visit::swap_policy`) and a stage in launch
/// syntax (`redact rect=0,0,640,120 mode=fill`) as the body: the stage at
/// position STAGE (a number, or the first stage of that name) is replaced in
/// every running call at its next keyframe, and new calls get the new
/// pipeline. The new stage is loaded and created once before anything
/// changes; a stage that does not load, does not accept its parameters or
/// does not fit its neighbours is refused with `400` and nothing changes.
/// A call whose new instance cannot be made keeps its old stage
/// (`framechain_stage_swaps_total{result="failed"}`).
///
/// One trial `create` proves little, so the swap is on probation (at
/// least `SWAP_PROBATION`, 30 s, and until 3 sessions opened on it gave
/// out a picture). A failure of the new stage meanwhile (a running call
/// cannot switch to it, a call running it fails, or a new call fails
/// before its first picture) rolls it back: new calls get the previous
/// pipeline, running calls switch back at their next keyframe, and
/// `framechain_stage_swaps_total{result="rolled back"}` counts it.
async fn swap_stage(
    State(state): State<Shared>,
    Path(stage): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = swap(&state, &stage, &headers, &body).await;
    state.metrics.http("admin", response.status().as_u16());
    response
}

async fn swap(state: &HttpState, stage: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let swapper = match crate::visit::swap_policy::caller(state, headers) {
        Ok(swapper) => swapper,
        Err(refused) => return refused.response(),
    };
    let Ok(line) = std::str::from_utf8(body) else {
        return text(StatusCode::BAD_REQUEST, "the stage line is not UTF-8 text");
    };
    let spec = match framechain::ChainSpec::parse_launch(line) {
        Ok(chain) if chain.stages.len() == 1 => chain.stages.into_iter().next().expect("one"),
        Ok(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                "give exactly one stage, e.g. redact rect=0,0,640,120 mode=fill",
            );
        }
        Err(error) => return text(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let _one_at_a_time = state.swapping.lock().await;
    let (reply, current) = oneshot::channel();
    if state
        .commands
        .send(Command::Pipeline { reply })
        .await
        .is_err()
    {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    }
    let Ok(current) = current.await else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    };
    let index = match stage.parse::<usize>() {
        Ok(index) => index,
        Err(_) => match current.stage_index(stage) {
            Some(index) => index,
            None => return text(StatusCode::NOT_FOUND, "the pipeline has no such stage"),
        },
    };
    // Loading and checking the new stage compiles it: not on the network
    // threads.
    let from = current.clone();
    let built = tokio::task::spawn_blocking(move || from.with_stage_replaced(index, &spec)).await;
    let to = match built {
        Ok(Ok(pipeline)) => Arc::new(pipeline),
        Ok(Err(error)) => return text(StatusCode::BAD_REQUEST, &error.to_string()),
        Err(_) => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "building the new stage failed",
            );
        }
    };
    if let crate::visit::swap_policy::Swapper::User(claims) = &swapper
        && let Err(refusal) =
            crate::visit::swap_policy::decide(state, claims, index, &current, &to).await
    {
        return refusal.response();
    }
    let name = to
        .stages()
        .nth(index)
        .map(|stage| stage.name().to_owned())
        .unwrap_or_default();
    let (reply, result) = oneshot::channel();
    let command = Command::Swap {
        from: current,
        to,
        stage: name.clone(),
        reply,
    };
    if state.commands.send(command).await.is_err() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    }
    match result.await {
        Ok(Ok(sessions)) => {
            log::info!(
                "stage {index} ({}) swapped in {sessions} running session(s)",
                framechain::text::untrusted(&name, 80)
            );
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({ "position": index, "stage": name, "sessions": sessions })
                    .to_string(),
            )
                .into_response()
        }
        Ok(Err(why)) => text(StatusCode::CONFLICT, &why),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        ),
    }
}

async fn healthz() -> Response {
    text(StatusCode::OK, "ok")
}

/// Ready while one more publisher would be admitted: below the session cap,
/// and the runtime's load plus one more session of the current average
/// under its `max_load`, and new sessions start (not the last 3 in a row
/// failed before their first picture, within a minute). Kubernetes stops
/// sending calls to a pod that is not ready.
async fn readyz(State(state): State<Shared>) -> Response {
    match readiness(&state) {
        Ok(()) => text(StatusCode::OK, "ready"),
        Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

/// `/readyz`'s answer (also the heartbeat's `ready`): `Err` says why not.
pub(crate) fn readiness(state: &HttpState) -> Result<(), &'static str> {
    if state.draining.load(Ordering::Relaxed) {
        return Err("draining");
    }
    if state.start_health.failing(std::time::Instant::now()) {
        return Err("new calls fail at start");
    }
    let runtime = &state.runtime;
    let sessions = runtime.sessions();
    let load = runtime.load();
    let per_session = if sessions > 0 {
        load / sessions as f64
    } else {
        0.0
    };
    let room = sessions < state.max_sessions && load + per_session <= runtime.config().max_load;
    if room { Ok(()) } else { Err("full") }
}

async fn metrics(State(state): State<Shared>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn page(State(state): State<Shared>, request: Request) -> Response {
    if request.method() != axum::http::Method::GET {
        return text(StatusCode::NOT_FOUND, "not found");
    }
    // The pages have no inline script or style and load nothing from
    // elsewhere. On a pod of a centre the call page sends its offers to
    // the centre, which redirects them to whichever pod holds the room:
    // those origins are not known here, so requests may go to any
    // http(s) origin (scripts and everything else stay 'self').
    let policy = match &state.edge {
        Some(edge) if edge.center.is_some() => {
            "default-src 'self'; connect-src 'self' http: https:"
        }
        _ => "default-src 'self'",
    };
    match crate::pages::asset(request.uri().path()) {
        Some((content_type, body)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
                (header::CONTENT_SECURITY_POLICY, policy),
            ],
            body,
        )
            .into_response(),
        None => text(StatusCode::NOT_FOUND, "not found"),
    }
}
