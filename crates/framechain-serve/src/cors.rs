//! CORS for the routes a call page reaches from another origin: WHIP and
//! WHEP (`/whip/…`, `/whep/…`: the offers, and `DELETE`/`PATCH` of their
//! resources) and the room's state (`GET /rooms/ROOM`).
//!
//! A visit through the centre crosses origins twice. The page POSTs its
//! offer to the centre, which answers `307` to this pod with a placement
//! ticket; the browser sends the offer again here, and then polls
//! `/rooms/ROOM` and ends its call here. So this pod answers the origins an
//! operator means (docs/center.md, "How a browser reaches a pod"):
//!
//! - the centre's (`--center`): a page served at the centre's origin
//!   arrives with it;
//! - the pod's own (`--public-url`, or `http://` and the `--http` address);
//! - each `--cors-origin` (the clinic's application, when it serves the
//!   call page from an origin of its own);
//! - `null`, only on a ticketed request (`?ticket=`, and its preflight):
//!   after a redirect from one foreign origin to another, the Fetch
//!   standard sends `Origin: null` (a "tainted" origin), so a page on any
//!   origin but the centre's arrives here that way. The ticket, signed by
//!   the centre for this pod, room and action, is what lets it in; the
//!   answer then names `null`, never a wildcard.
//!
//! Nothing here uses cookies, so no answer carries
//! `Access-Control-Allow-Credentials`; the answer never repeats what the
//! request asked for (the allowed headers and methods are fixed), and an
//! origin not listed gets no CORS header at all (its preflight: `403`).
//! The front door's limits (connections, header sizes, timeouts) and the
//! body limit stand before this, as for every route.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::ServeError;

/// The methods the call pages use on these routes.
const METHODS: &str = "POST, GET, PATCH, DELETE";
/// The request headers a WHIP/WHEP client sends: its token, the offer's
/// type and (for an ICE restart) `If-Match`.
const REQUEST_HEADERS: &str = "Authorization, Content-Type, If-Match";
/// The answer's headers a WHIP/WHEP client reads (RFC 9725): the
/// resource, its entity tag, ICE servers, what `PATCH` takes, when to try
/// again, and why a token was refused.
const EXPOSED_HEADERS: &str = "Location, ETag, Link, Accept-Patch, Retry-After, WWW-Authenticate";
/// How long a browser may keep a preflight's answer, in seconds.
const MAX_AGE: &str = "600";
/// The longest origin taken from the command line.
const MAX_ORIGIN_LEN: usize = 512;

/// The origins whose pages may call the room routes (settings, fixed at
/// start).
#[derive(Debug, Clone, Default)]
pub(crate) struct CorsOrigins {
    allowed: Vec<HeaderValue>,
}

impl CorsOrigins {
    /// The centre's origin (from `center`, its URL), the pod's own (from
    /// `own`, its URL) and each of `extra` (origins, checked by
    /// [`origin_of`] before).
    pub(crate) fn new(center: Option<&str>, own: Option<&str>, extra: &[String]) -> CorsOrigins {
        let mut allowed: Vec<HeaderValue> = Vec::new();
        let urls = center.into_iter().chain(own);
        let origins = urls
            .filter_map(|url| origin_of(url).ok())
            .chain(extra.iter().cloned());
        for origin in origins {
            if let Ok(value) = HeaderValue::from_str(&origin)
                && !allowed.contains(&value)
            {
                allowed.push(value);
            }
        }
        CorsOrigins { allowed }
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin` to a
    /// URL with `query`, or `None` when that origin may not.
    fn allow(&self, origin: &HeaderValue, query: Option<&str>) -> Option<HeaderValue> {
        if origin.as_bytes() == b"null" {
            return crate::visit::routes::ticket_of(query)
                .filter(|ticket| !ticket.is_empty())
                .map(|_| HeaderValue::from_static("null"));
        }
        self.allowed
            .iter()
            .find(|allowed| *allowed == origin)
            .cloned()
    }
}

/// The origin (`scheme://host[:port]`, lower case) of an `http://` or
/// `https://` URL or origin, or a one-line reason. A URL's path is
/// dropped; userinfo, a query or a fragment are refused.
pub(crate) fn origin_of(url: &str) -> Result<String, String> {
    if url.len() > MAX_ORIGIN_LEN || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("not a URL of printable ASCII (at most 512 bytes)".to_owned());
    }
    let lower = url.to_ascii_lowercase();
    let (scheme, rest) = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme).map(|rest| (*scheme, rest)))
        .ok_or("expected http://HOST or https://HOST")?;
    if rest.contains(['?', '#', '@']) {
        return Err("an origin has no query, fragment or user".to_owned());
    }
    let host = rest.split('/').next().unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() {
            name
        } else {
            ""
        }
    });
    if name.is_empty() {
        return Err("no host, or a port that is not a number".to_owned());
    }
    Ok(format!("{scheme}{host}"))
}

/// Checks `--cors-origin` values: each an origin as [`origin_of`] takes,
/// with no path beyond `/`.
pub(crate) fn check_origins(origins: &[String]) -> Result<(), ServeError> {
    for origin in origins {
        let bad = |why: &str| {
            ServeError::Config(format!(
                "--cors-origin {}: {why}",
                framechain::text::untrusted(origin, 80)
            ))
        };
        let normal = origin_of(origin).map_err(|why| bad(&why))?;
        if origin.trim_end_matches('/').len() != normal.len() {
            return Err(bad(
                "an origin has no path (e.g. https://app.clinic.example)",
            ));
        }
    }
    Ok(())
}

/// Whether `path` is one of the routes a call page reaches across origins.
fn is_cross_origin_route(path: &str) -> bool {
    ["/whip/", "/whep/", "/rooms/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// The request's one `Origin`, or `None` (none, or several).
fn one_origin(headers: &HeaderMap) -> Option<&HeaderValue> {
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let origin = origins.next()?;
    origins.next().is_none().then_some(origin)
}

/// The middleware: answers the preflight of the routes above and adds the
/// CORS headers to their answers, for the origins of [`CorsOrigins`].
pub(crate) async fn layer(
    State(cors): State<Arc<CorsOrigins>>,
    request: Request,
    next: Next,
) -> Response {
    if !is_cross_origin_route(request.uri().path()) {
        return next.run(request).await;
    }
    let origin = request.headers().get(header::ORIGIN).is_some();
    let allowed =
        one_origin(request.headers()).and_then(|origin| cors.allow(origin, request.uri().query()));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        return answer_preflight(allowed);
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let (true, Some(allowed)) = (origin, allowed) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    response
}

/// A preflight's answer: `204` with the fixed lists for an allowed origin,
/// `403` (one line, no CORS header) for any other.
fn answer_preflight(allowed: Option<HeaderValue>) -> Response {
    let Some(allowed) = allowed else {
        let mut response = crate::http::text(
            StatusCode::FORBIDDEN,
            "this origin may not call this server's rooms (see --cors-origin)",
        );
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    };
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(REQUEST_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> CorsOrigins {
        CorsOrigins::new(
            Some("https://Center.Clinic.example/"),
            Some("http://10.0.0.7:8080"),
            &["https://app.clinic.example".to_owned()],
        )
    }

    fn allow(origin: &str, query: Option<&str>) -> Option<String> {
        origins()
            .allow(&HeaderValue::from_str(origin).unwrap(), query)
            .map(|value| value.to_str().unwrap().to_owned())
    }

    #[test]
    fn the_centre_the_pod_and_the_listed_origins_are_allowed_and_no_other() {
        assert_eq!(
            allow("https://center.clinic.example", None).as_deref(),
            Some("https://center.clinic.example")
        );
        assert_eq!(
            allow("http://10.0.0.7:8080", None).as_deref(),
            Some("http://10.0.0.7:8080")
        );
        assert_eq!(
            allow("https://app.clinic.example", None).as_deref(),
            Some("https://app.clinic.example")
        );
        for foreign in [
            "https://evil.example",
            "https://center.clinic.example.evil.example",
            "http://center.clinic.example",
            "https://center.clinic.example:444",
            "*",
            "",
        ] {
            assert_eq!(allow(foreign, None), None, "{foreign}");
        }
    }

    #[test]
    fn an_opaque_origin_is_allowed_only_with_a_ticket() {
        assert_eq!(allow("null", None), None);
        assert_eq!(allow("null", Some("a=b")), None);
        assert_eq!(allow("null", Some("ticket=")), None);
        assert_eq!(allow("null", Some("ticket=T")).as_deref(), Some("null"));
    }

    #[test]
    fn origins_are_parsed_strictly() {
        assert_eq!(
            origin_of("https://Center.example:8443/path").as_deref(),
            Ok("https://center.example:8443")
        );
        for bad in [
            "ftp://x",
            "https://",
            "https://:80",
            "https://x:port",
            "https://u@x",
            "https://x?q",
            "https://x#f",
            "https://x y",
        ] {
            assert!(origin_of(bad).is_err(), "{bad}");
        }
        assert!(check_origins(&["https://app.example/".to_owned()]).is_ok());
        assert!(check_origins(&["https://app.example/call".to_owned()]).is_err());
    }
}
