//! Reading `framechain serve`'s `GET /metrics` (the Prometheus text format).

/// The value of `series` as the text writes it: a name alone
/// (`framechain_sessions`) or with its labels
/// (`framechain_sessions_refused_total{reason="busy"}`); `None` when absent.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    samples(metrics).find_map(|(name, value)| (name == series).then_some(value))
}

/// The sum of metric `name` over all its label sets; 0 when absent.
pub fn metric_total(metrics: &str, name: &str) -> f64 {
    samples(metrics)
        .filter(|(series, _)| {
            series
                .strip_prefix(name)
                .is_some_and(|labels| labels.is_empty() || labels.starts_with('{'))
        })
        .map(|(_, value)| value)
        .sum::<f64>()
        // An empty sum is -0.0; shown as 0.
        + 0.0
}

/// Each sample line's series (name and labels) and value.
fn samples(metrics: &str) -> impl Iterator<Item = (&str, f64)> {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series, value.parse().ok()?))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP framechain_sessions Sessions.\n\
        # TYPE framechain_sessions gauge\n\
        framechain_sessions 2\n\
        framechain_sessions_refused_total{reason=\"busy\"} 3\n\
        framechain_sessions_refused_total{reason=\"stream busy\"} 4\n\
        framechain_sessions_refused_totally 100\n";

    #[test]
    fn a_series_is_read_as_written_and_a_total_over_its_labels() {
        assert_eq!(metric_value(TEXT, "framechain_sessions"), Some(2.0));
        assert_eq!(
            metric_value(
                TEXT,
                "framechain_sessions_refused_total{reason=\"stream busy\"}"
            ),
            Some(4.0)
        );
        assert_eq!(
            metric_value(TEXT, "framechain_sessions_refused_total"),
            None
        );
        assert_eq!(metric_total(TEXT, "framechain_sessions_refused_total"), 7.0);
        assert_eq!(metric_total(TEXT, "framechain_sessions"), 2.0);
        assert_eq!(metric_total(TEXT, "framechain_viewers"), 0.0);
    }
}
