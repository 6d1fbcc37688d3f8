//! Who may swap a stage (`POST /admin/stages/STAGE`) when rooms are
//! served (`--keys`): the caller's own signed token, and the policy's
//! `swap_stage` decision on it. A swap changes what every running call's
//! video goes through (the patients' redaction among them), so it is
//! decided like a join and recorded with the caller's name, not opened by
//! a shared secret that names nobody. Without `--keys` the admin token
//! (`--admin-token-file`) opens it, as before; without an admin token the
//! endpoint is off either way (the operator opts in to swaps).
//!
//! The new stage is built before the policy is asked, because the policy
//! sees its digest; only a caller with a valid token gets that far, and
//! building runs under the compile limits (docs/security.md).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use framechain::Pipeline;

use super::clock::format_rfc3339;
use super::now_unix;
use crate::auth::Denied;
use crate::http::{HttpState, denied, text};
use crate::identity::{Claims, TokenRefused};

/// Who asks for a swap.
pub(crate) enum Swapper {
    /// The admin token's holder (no `--keys`).
    Operator,
    /// A verified token's holder, whom the policy judges.
    User(Claims),
}

/// Why a swap is refused before anything changes.
#[derive(Debug)]
pub(crate) enum SwapRefused {
    /// Without `--keys`, or without an admin token: the admin token's
    /// check (`401`, `403`, or `404` when the endpoint is off).
    Admin(Denied),
    /// With `--keys`, the admin token was sent (`403`).
    AdminTokenWithKeys,
    /// The caller's token is refused (`401`).
    Token(TokenRefused),
    /// The policy's no and its reason (`403`).
    Policy(String),
    /// An allowed swap whose record cannot be written (`503`).
    NotRecorded,
    /// The position names no stage (`404`).
    NoSuchStage,
}

impl SwapRefused {
    /// The answer: its status and one line.
    pub(crate) fn response(self) -> Response {
        match self {
            SwapRefused::Admin(why) => denied(why),
            SwapRefused::AdminTokenWithKeys => text(
                StatusCode::FORBIDDEN,
                "with --keys a stage swap takes the caller's own signed token, which the policy's swap_stage decides on, not the admin token",
            ),
            SwapRefused::Token(refused) => {
                let mut response = text(StatusCode::UNAUTHORIZED, &refused.to_string());
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            SwapRefused::Policy(reason) => text(
                StatusCode::FORBIDDEN,
                &format!("the policy does not allow this swap: {reason}"),
            ),
            SwapRefused::NotRecorded => {
                let mut response = text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the audit trail cannot record this swap now; try again later",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            SwapRefused::NoSuchStage => {
                text(StatusCode::NOT_FOUND, "the pipeline has no such stage")
            }
        }
    }
}

/// Who the caller is, or why they are refused.
pub(crate) fn caller(state: &HttpState, headers: &HeaderMap) -> Result<Swapper, SwapRefused> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let Some(visits) = state.visits.as_ref().filter(|_| state.admin.is_set()) else {
        // Without --keys the admin token opens it; without an admin token
        // the endpoint is off (404) either way: the operator opts in.
        return state
            .admin
            .check(authorization)
            .map(|()| Swapper::Operator)
            .map_err(SwapRefused::Admin);
    };
    if state.admin.check(authorization).is_ok() {
        return Err(SwapRefused::AdminTokenWithKeys);
    }
    visits
        .verifier
        .verify(authorization, now_unix().max(0) as u64)
        .map(Swapper::User)
        .map_err(SwapRefused::Token)
}

/// The policy's decision on `claims` swapping the stage at `position` of
/// `from` for the one `to` has there, recorded on a pod
/// (`stage_swap_decided`). `Ok` to go on; else the policy's no, or
/// [`SwapRefused::NotRecorded`] when an allowed swap cannot be recorded
/// (no change without its record).
pub(crate) async fn decide(
    state: &HttpState,
    claims: &Claims,
    position: usize,
    from: &Pipeline,
    to: &Pipeline,
) -> Result<(), SwapRefused> {
    let Some(visits) = &state.visits else {
        return Ok(());
    };
    let (old, new) = match (from.stages().nth(position), to.stages().nth(position)) {
        (Some(old), Some(new)) => (old, new),
        _ => return Err(SwapRefused::NoSuchStage),
    };
    let pipeline = crate::visit::routes::pipeline_digest(from);
    let input = serde_json::json!({
        "user": { "id": claims.sub, "role": claims.role, "room": claims.room },
        "action": "swap_stage",
        "resource": {
            "room": null,
            "stage": new.name(),
            "position": position,
            "digest": new.digest(),
            "replaces": { "stage": old.name(), "digest": old.digest() },
            "pipeline": pipeline,
        },
        "time": format_rfc3339(now_unix()),
    });
    let decision = visits.policy.decide(&input);
    log::info!(
        "stage swap at {position} to {} asked by {} ({}): {}: {}",
        framechain::text::untrusted(new.name(), 80),
        claims.sub,
        claims.role,
        if decision.allow { "allowed" } else { "refused" },
        decision.reason
    );
    if let Some(edge) = &state.edge {
        let what = framechain_events::EventKind::StageSwapDecided {
            position: position as u32,
            stage: new.name().to_owned(),
            new_digest: new.digest().to_owned(),
            pipeline_digest: pipeline,
            role: claims.role.clone(),
            allowed: decision.allow,
            reason: decision.reason.clone(),
        };
        if !decision.allow {
            edge.audit.record_later(None, Some(&claims.sub), what);
        } else {
            let audit = edge.audit.clone();
            let who = claims.sub.clone();
            let written =
                tokio::task::spawn_blocking(move || audit.record(None, Some(&who), what)).await;
            if !matches!(written, Ok(Ok(()))) {
                return Err(SwapRefused::NotRecorded);
            }
        }
    }
    if decision.allow {
        Ok(())
    } else {
        Err(SwapRefused::Policy(decision.reason))
    }
}
