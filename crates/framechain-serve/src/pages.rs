//! The pages a person uses: plain HTML, CSS and JavaScript modules from
//! `crates/framechain-serve/assets`, compiled into the binary (no build step, no CDN). No page
//! has inline script or style, so a strict Content-Security-Policy
//! (`default-src 'self'`) holds.

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The content type and body for a page or asset path (`/`, `/publish`,
/// `/watch`, `/call`, `/assets/NAME`), or `None` for any other path. The query
/// string is not part of `path`.
pub(crate) fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    let found: (&str, &str) = match path {
        "/" | "/index.html" => (HTML, include_str!("../assets/index.html")),
        "/publish" => (HTML, include_str!("../assets/publish.html")),
        "/watch" => (HTML, include_str!("../assets/watch.html")),
        "/call" => (HTML, include_str!("../assets/call.html")),
        "/assets/style.css" => (CSS, include_str!("../assets/style.css")),
        "/assets/webrtc.js" => (JS, include_str!("../assets/webrtc.js")),
        "/assets/timecode.js" => (JS, include_str!("../assets/timecode.js")),
        "/assets/publish.js" => (JS, include_str!("../assets/publish.js")),
        "/assets/watch.js" => (JS, include_str!("../assets/watch.js")),
        "/assets/ticker.js" => (JS, include_str!("../assets/ticker.js")),
        "/assets/call.css" => (CSS, include_str!("../assets/call.css")),
        "/assets/call.js" => (JS, include_str!("../assets/call.js")),
        "/assets/sync.js" => (JS, include_str!("../assets/sync.js")),
        "/assets/onset-worklet.js" => (JS, include_str!("../assets/onset-worklet.js")),
        _ => return None,
    };
    Some((found.0, found.1.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::asset;

    #[test]
    fn every_page_and_the_assets_it_references_are_served() {
        for page in ["/", "/publish", "/watch", "/call"] {
            let (kind, body) = asset(page).expect(page);
            assert!(kind.starts_with("text/html"), "{page}: {kind}");
            let text = std::str::from_utf8(body).unwrap();
            // Every /assets/ reference of the page resolves.
            for reference in text.split('"').filter(|s| s.starts_with("/assets/")) {
                assert!(asset(reference).is_some(), "{page} refers to {reference}");
            }
            assert!(!text.contains("<script>"), "{page}: inline script");
            assert!(!text.contains("style="), "{page}: inline style");
        }
        // Module imports between scripts resolve too.
        for script in [
            "/assets/publish.js",
            "/assets/watch.js",
            "/assets/call.js",
            "/assets/sync.js",
        ] {
            let text = std::str::from_utf8(asset(script).unwrap().1).unwrap();
            for import in text.split('\'').filter(|s| s.starts_with("./")) {
                let path = format!("/assets/{}", &import[2..]);
                assert!(asset(&path).is_some(), "{script} imports {import}");
            }
        }
        // The worklet sync.js loads by its absolute path.
        let sync = std::str::from_utf8(asset("/assets/sync.js").unwrap().1).unwrap();
        assert!(sync.contains("'/assets/onset-worklet.js'"));
        assert!(asset("/assets/onset-worklet.js").is_some());
        assert_eq!(asset("/assets/../Cargo.toml"), None);
        assert_eq!(asset("/nothing"), None);
    }
}
