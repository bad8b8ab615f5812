//! `/metrics`: the Prometheus text exposition. Everything the `metrics` facade recorded (through the recorder
//! `callboard serve` installs), plus series computed when scraped: consumer-group lag per
//! stream/group/topic/partition and partitions per health state.

use std::fmt::Write;

use actix_web::HttpMessage;
use actix_web::{HttpResponse, web};
use callboard_actors::{Broker, BrokerError};
use callboard_protocol::model::GlobalPermission;
use tracing::debug;

use super::auth::Caller;
use super::error::ApiError;
use super::responses::AppState;

/// Gauge of a consumer group's lag on a partition (computed at scrape).
pub const GROUP_LAG: &str = "callboard_group_lag";
/// Gauge of partitions by health state (computed at scrape).
pub const PARTITIONS: &str = "callboard_partitions";
/// Counter of partition actor restarts since start, all topics (computed at scrape).
pub const RESTARTS: &str = "callboard_broker_restarts_total";

/// Histogram buckets (seconds) for latencies: append, fsync, requests.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Counter of requests, labelled by gateway (`http`) and API (the matched route pattern, `other` when none matched).
pub const REQUESTS: &str = "callboard_gateway_requests_total";
/// Histogram of HTTP request durations (seconds), labelled like [`REQUESTS`].
pub const REQUEST_SECONDS: &str = "callboard_http_request_seconds";

/// Middleware (for `actix_web::middleware::from_fn`) counting and timing every request by matched route.
pub(crate) async fn count_request<B: actix_web::body::MessageBody + 'static>(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<B>,
) -> Result<actix_web::dev::ServiceResponse<B>, actix_web::Error> {
    let started = std::time::Instant::now();
    let response = next.call(req).await?;
    let api = response.request().match_pattern().unwrap_or_else(|| "other".into());
    let labels = [("gateway", "http".to_string()), ("api", api)];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(REQUEST_SECONDS, &labels).record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// A label value escaped for the text format.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Appends the series computed from the broker's state now.
async fn scrape_time_series(broker: &Broker, out: &mut String) -> Result<(), ApiError> {
    let status = broker.status().await?;
    let _ = writeln!(out, "# HELP {PARTITIONS} Partitions by health state.\n# TYPE {PARTITIONS} gauge");
    for (state, n) in [
        ("online", status.partitions_online),
        ("read_only", status.partitions_read_only),
        ("offline", status.partitions_offline),
    ] {
        let _ = writeln!(out, "{PARTITIONS}{{state=\"{state}\"}} {n}");
    }
    let _ = writeln!(out, "# HELP {RESTARTS} Partition actor restarts since start.\n# TYPE {RESTARTS} counter");
    let _ = writeln!(out, "{RESTARTS} {}", status.restarts);
    let _ =
        writeln!(out, "# HELP {GROUP_LAG} Messages a consumer group has not committed yet.\n# TYPE {GROUP_LAG} gauge");
    for stream in broker.streams().await? {
        for group in broker.list_groups(&stream.name).await? {
            // A group or topic deleted meanwhile is skipped, not an error of the whole scrape.
            let description = match broker.describe_group(&stream.name, &group).await {
                Ok(d) => d,
                Err(e) => {
                    debug!(stream = %stream.name, %group, error = %e, "group vanished while scraping");
                    continue;
                }
            };
            for p in description.partitions {
                let _ = writeln!(
                    out,
                    "{GROUP_LAG}{{stream=\"{}\",group=\"{}\",topic=\"{}\",partition=\"{}\"}} {}",
                    escape(&stream.name),
                    escape(&group),
                    escape(&p.topic),
                    p.partition,
                    p.lag
                );
            }
        }
    }
    Ok(())
}

/// Prometheus metrics (text format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "system", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(state: web::Data<AppState>, req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    if !state.metrics_public {
        let caller = req.extensions().get::<Caller>().cloned();
        match caller {
            Some(caller) => caller.require_global(GlobalPermission::ReadMetrics)?,
            None => return Err(BrokerError::Unauthenticated("/metrics needs credentials".into()).into()),
        }
    }
    let mut out = match &state.prometheus {
        Some(handle) => handle.render(),
        None => String::new(),
    };
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    scrape_time_series(&state.broker, &mut out).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
