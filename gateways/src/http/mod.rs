//! The HTTP gateway: the REST API under `/api/v1` (actix-web) with its OpenAPI 3 document, Prometheus `/metrics`,
//! `/health` and `/ready`, and the web console's assets at every other path. Like the TCP and QUIC gateways it only
//! translates: each route calls the matching [`callboard_actors::Broker`] operation.
//!
//! Every error answers `{"code", "message"}` ([`ErrorBody`]) with the status [`code_status`] maps the wire code
//! to. Until authentication lands, requests with a foreign `Host` or `Origin` are refused (see `guard`). The route
//! table is in `routes`; `docs/rest-api.md` describes the contract.

mod assets;
mod body;
mod encoding;
mod error;
mod groups;
mod guard;
mod metrics;
mod node;
mod offsets;
mod openapi;
mod poll;
mod produce;
mod responses;
mod routes;
mod server;
mod streams;
mod system;
mod topics;

pub use encoding::Encoding;
pub use error::{ApiError, ErrorBody, HttpCode, code_name, code_status};
pub use guard::allowed_hosts;
pub use metrics::{GROUP_LAG, LATENCY_BUCKETS, PARTITIONS, RESTARTS};
pub use node::{ListenerInfo, Node};
pub use openapi::ApiDoc;
pub use server::{HttpConfig, HttpGateway};
