//! The Prometheus text format, read strictly: the tests of `serve`'s and
//! the centre's `GET /metrics` check every line with it.

/// Checks one line of the Prometheus text format (and its OpenMetrics
/// variant, which `/metrics` says it is) strictly: comments `# HELP`,
/// `# TYPE`, `# UNIT`, `# EOF`; samples `name{label="value",...} number`
/// whose label values escape only `\\`, `\"` and `\n`, and hold no raw
/// quote, backslash or newline. Returns each sample's label values.
pub fn parse_exposition_line(line: &str) -> Result<Vec<(String, String)>, String> {
    fn is_name(text: &str, colon: bool) -> bool {
        let mut chars = text.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
    }
    if let Some(comment) = line.strip_prefix("# ") {
        if comment == "EOF" {
            return Ok(Vec::new());
        }
        let mut words = comment.splitn(3, ' ');
        let kind = words.next().unwrap_or_default();
        let name = words.next().unwrap_or_default();
        if !["HELP", "TYPE", "UNIT"].contains(&kind) || !is_name(name, true) {
            return Err(format!("bad comment line: {line:?}"));
        }
        return Ok(Vec::new());
    }
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("no value: {line:?}"))?;
    if !is_name(&line[..name_end], true) {
        return Err(format!("bad metric name: {line:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            // A label name, `="`, a value, `"`, then `,` or `}`.
            let start = chars.peek().map(|(i, _)| *i).ok_or("cut line")?;
            if inner[start..].starts_with('}') {
                chars.next();
                break;
            }
            let eq = inner[start..]
                .find('=')
                .ok_or_else(|| format!("no '=': {line:?}"))?;
            let label = &inner[start..start + eq];
            if !is_name(label, false) {
                return Err(format!("bad label name {label:?}: {line:?}"));
            }
            for _ in 0..=eq {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label value not quoted: {line:?}"));
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    None => return Err(format!("unterminated label value: {line:?}")),
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("bad escape \\{other:?}: {line:?}")),
                    },
                    Some('\n') => return Err(format!("raw newline: {line:?}")),
                    Some(c) => value.push(c),
                }
            }
            labels.push((label.to_owned(), value));
            match chars.next().map(|(_, c)| c) {
                Some(',') => {}
                Some('}') => break,
                other => return Err(format!("expected , or }} not {other:?}: {line:?}")),
            }
        }
        let consumed = chars.peek().map_or(inner.len(), |(i, _)| *i);
        rest = &inner[consumed..];
    }
    let value = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("no space before the value: {line:?}"))?;
    let mut parts = value.split(' ');
    let number = parts.next().unwrap_or_default();
    let valid = ["+Inf", "-Inf", "NaN"].contains(&number) || number.parse::<f64>().is_ok();
    if !valid {
        return Err(format!("bad value {number:?}: {line:?}"));
    }
    match (parts.next(), parts.next()) {
        (None, _) => {}
        (Some(timestamp), None) if timestamp.parse::<f64>().is_ok() => {}
        _ => return Err(format!("junk after the value: {line:?}")),
    }
    Ok(labels)
}

/// One sample of an exposition: its metric name, its labels in the order
/// written, and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The metric name.
    pub name: String,
    /// The labels, as (name, value) pairs.
    pub labels: Vec<(String, String)>,
    /// The value (`NaN` where it was written so).
    pub value: f64,
}

/// Checks every line of `text`; panics naming the first that does not
/// parse. Returns the samples.
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let labels = parse_exposition_line(line)
            .unwrap_or_else(|error| panic!("/metrics does not parse: {error}"));
        if line.starts_with('#') {
            continue;
        }
        let name = &line[..line.find(['{', ' ']).expect("a parsed sample")];
        let value = line
            .rsplit(' ')
            .next()
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

/// The value of the sample named `name` with exactly the labels `labels`
/// (in any order), or `None`.
pub fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|sample| {
            sample.name == name
                && sample.labels.len() == labels.len()
                && labels.iter().all(|(key, value)| {
                    sample
                        .labels
                        .iter()
                        .any(|(have_key, have_value)| have_key == key && have_value == value)
                })
        })
        .map(|sample| sample.value)
}
