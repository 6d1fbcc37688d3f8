//! WHIP/WHEP signalling over plain HTTP/1.1 (ureq): the offer out, the
//! answer and the resource's location back, `DELETE` at the end.

use std::time::Duration;

use crate::Error;

/// Where a stream is served and the token that opens it.
#[derive(Clone)]
pub struct Endpoint {
    /// The server's base URL, e.g. `http://127.0.0.1:8080`.
    pub base: String,
    /// The stream name (`/whip/NAME`, `/whep/NAME`).
    pub stream: String,
    /// The bearer token (publish token for WHIP, view token for WHEP).
    pub token: String,
}

impl std::fmt::Debug for Endpoint {
    // The token stays out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint for `stream` on `base` with `token`.
    pub fn new(
        base: impl Into<String>,
        stream: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        Endpoint {
            base: base.into().trim_end_matches('/').to_owned(),
            stream: stream.into(),
            token: token.into(),
        }
    }

    /// `base` + `path` (`path` starts with `/`), or `path` itself when it
    /// is already absolute.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }
}

const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// A refusal's body is shown, but never more than this.
const MAX_ERROR_BODY: usize = 512;

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(HTTP_TIMEOUT)
        .redirects(0)
        .build()
}

fn refused(url: &str, status: u16, response: ureq::Response) -> Error {
    let retry_after = response.header("Retry-After").map(str::to_owned);
    let mut body = response.into_string().unwrap_or_default();
    body.truncate(MAX_ERROR_BODY);
    Error::Refused {
        url: url.to_owned(),
        status,
        retry_after,
        body: body.trim().to_owned(),
    }
}

/// How many redirects an offer follows, as a browser's `fetch` would
/// (RFC 9725 lets a WHIP/WHEP endpoint answer `307` to send the client to
/// the node holding the stream; framechain's centre does).
const MAX_REDIRECTS: usize = 3;

/// Posts an SDP offer to `kind` (`whip` or `whep`); returns the answer
/// and the resource URL from `Location`.
///
/// A `307` or `308` is followed like a browser's `fetch` follows it: the
/// same method and body to the new `Location`, and the `Authorization`
/// header dropped when the redirect leaves the origin (the Fetch
/// standard), so a redirect must carry what the next server needs (the
/// centre's placement ticket). The resource is resolved against the URL
/// that answered.
pub(crate) fn post_offer(
    endpoint: &Endpoint,
    kind: &str,
    offer: &str,
) -> Result<(String, String), Error> {
    let first = endpoint.url(&format!("/{kind}/{}", endpoint.stream));
    let mut url = first.clone();
    let mut redirects = 0;
    let response = loop {
        let mut request = agent().post(&url).set("Content-Type", "application/sdp");
        if origin(&url) == origin(&first) {
            request = request.set("Authorization", &format!("Bearer {}", endpoint.token));
        }
        let response = match request.send_string(offer) {
            Ok(response) => response,
            Err(ureq::Error::Status(status, response)) => {
                return Err(refused(&url, status, response));
            }
            Err(error) => return Err(Error::Http(format!("POST {url}: {error}"))),
        };
        let status = response.status();
        if (status == 307 || status == 308) && redirects < MAX_REDIRECTS {
            let location = response
                .header("Location")
                .ok_or_else(|| Error::Http(format!("POST {url}: {status} without a Location")))?;
            url = resolve(&url, location);
            redirects += 1;
            continue;
        }
        if status != 201 {
            return Err(refused(&url, status, response));
        }
        break response;
    };
    let location = response
        .header("Location")
        .ok_or_else(|| Error::Http(format!("POST {url}: 201 without a Location")))?
        .to_owned();
    let answer = response
        .into_string()
        .map_err(|error| Error::Http(format!("POST {url}: reading the answer: {error}")))?;
    Ok((answer, resolve(&url, &location)))
}

/// `scheme://host:port` of an absolute URL.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |at| after_scheme + at);
    &url[..end]
}

/// `location` resolved against `base`: absolute as is, `/path` on the
/// base's origin.
fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else {
        format!("{}{location}", origin(base))
    }
}

/// `DELETE` on a WHIP/WHEP resource.
pub(crate) fn delete(endpoint: &Endpoint, resource: &str) -> Result<(), Error> {
    let response = agent()
        .delete(resource)
        .set("Authorization", &format!("Bearer {}", endpoint.token))
        .call();
    match response {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(status, response)) => Err(refused(resource, status, response)),
        Err(error) => Err(Error::Http(format!("DELETE {resource}: {error}"))),
    }
}

/// `GET url` (with `Authorization: Bearer token` when given); the body of a
/// 200 answer. For `/metrics` and `/streams/NAME/stats`.
pub fn get_text(url: &str, token: Option<&str>) -> Result<String, Error> {
    let mut request = agent().get(url);
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    match request.call() {
        Ok(response) => response
            .into_string()
            .map_err(|error| Error::Http(format!("GET {url}: {error}"))),
        Err(ureq::Error::Status(status, response)) => Err(refused(url, status, response)),
        Err(error) => Err(Error::Http(format!("GET {url}: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::{origin, resolve};

    #[test]
    fn redirect_locations_resolve_against_the_answering_origin() {
        assert_eq!(
            origin("http://127.0.0.1:8080/whip/a?ticket=x"),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            resolve(
                "http://127.0.0.1:9000/whip/a?ticket=x",
                "/whip/a/resource/1"
            ),
            "http://127.0.0.1:9000/whip/a/resource/1"
        );
        assert_eq!(
            resolve("http://127.0.0.1:9000/whip/a", "http://127.0.0.1:9001/x"),
            "http://127.0.0.1:9001/x"
        );
    }
}
