//! The centre's status page: `GET /` as one HTML document with no script
//! and no external asset, rendered from the status JSON. Everything shown
//! is escaped: node names, addresses and labels come from the pods.

use std::fmt::Write as _;

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "–".into(),
        serde_json::Value::String(text) => escape(text),
        other => escape(&other.to_string()),
    }
}

/// The page of a status document ([`crate::http::status`]).
pub fn render(status: &serde_json::Value) -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\"><title>framechain centre</title>\
         <style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}.dead{color:#a00}</style>\
         </head><body>",
    );
    let _ = write!(
        html,
        "<h1>framechain centre {}</h1><h2>Pods</h2><table><tr><th>node</th><th>alive</th>\
         <th>address</th><th>rooms placed</th><th>load / capacity</th><th>calls</th>\
         <th>ready</th><th>draining</th><th>labels</th></tr>",
        cell(&status["center"])
    );
    for pod in status["pods"].as_array().into_iter().flatten() {
        let alive = pod["alive"].as_bool().unwrap_or(false);
        let s = &pod["status"];
        let _ = write!(
            html,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if alive { "alive" } else { "dead" },
            cell(&pod["node"]),
            if alive { "yes" } else { "no" },
            cell(&s["address"]),
            cell(&pod["rooms"]),
            cell(&s["load"]),
            cell(&s["capacity"]),
            cell(&s["calls"]),
            cell(&s["ready"]),
            cell(&s["draining"]),
            cell(&s["labels"]),
        );
    }
    html.push_str(
        "</table><h2>Rooms</h2><table><tr><th>room</th><th>open</th><th>runs on</th>\
         <th>generation</th><th>previously on</th><th>labels</th></tr>",
    );
    for room in status["rooms"].as_array().into_iter().flatten() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            cell(&room["room"]),
            cell(&room["open"]),
            cell(&room["node"]),
            cell(&room["generation"]),
            cell(&room["previous_node"]),
            cell(&room["labels"]),
        );
    }
    html.push_str("</table><p>JSON: <a href=\"/center/status.json\">/center/status.json</a></p></body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    #[test]
    fn what_the_pods_wrote_is_escaped() {
        let status = serde_json::json!({
            "center": "c1",
            "pods": [{"node": "<script>", "alive": true, "rooms": 1,
                      "status": {"address": "http://x\"><b>", "labels": {"a": "<i>"}}}],
            "rooms": [{"room": "r&1", "node": null}],
        });
        let page = super::render(&status);
        assert!(!page.contains("<script>") && !page.contains("<b>") && !page.contains("<i>"));
        assert!(page.contains("&lt;script&gt;") && page.contains("r&amp;1"));
    }
}
