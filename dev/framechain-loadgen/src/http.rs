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

/// Posts an SDP offer to `kind` (`whip` or `whep`); returns the answer
/// and the resource URL from `Location`.
pub(crate) fn post_offer(
    endpoint: &Endpoint,
    kind: &str,
    offer: &str,
) -> Result<(String, String), Error> {
    let url = endpoint.url(&format!("/{kind}/{}", endpoint.stream));
    let response = agent()
        .post(&url)
        .set("Authorization", &format!("Bearer {}", endpoint.token))
        .set("Content-Type", "application/sdp")
        .send_string(offer);
    let response = match response {
        Ok(response) => response,
        Err(ureq::Error::Status(status, response)) => return Err(refused(&url, status, response)),
        Err(error) => return Err(Error::Http(format!("POST {url}: {error}"))),
    };
    if response.status() != 201 {
        let status = response.status();
        return Err(refused(&url, status, response));
    }
    let location = response
        .header("Location")
        .ok_or_else(|| Error::Http(format!("POST {url}: 201 without a Location")))?
        .to_owned();
    let answer = response
        .into_string()
        .map_err(|error| Error::Http(format!("POST {url}: reading the answer: {error}")))?;
    Ok((answer, endpoint.url(&location)))
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
