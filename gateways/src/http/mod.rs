//! The HTTP gateway: the REST API under `/api/v1` (actix-web) with its OpenAPI 3 document, Prometheus `/metrics`,
//! `/health` and `/ready`, and the web console's assets at every other path. Like the TCP and QUIC gateways it only
//! translates: each route calls the matching [`callboard_actors::Broker`] operation.
//!
//! Every error answers `{"code", "message"}` ([`ErrorBody`]) with the status [`code_status`] maps the wire code
//! to. Every request but the probes, the login and the console's static assets authenticates (see `auth`: a
//! bearer token or basic auth) and each route checks the permission its TCP counterpart needs; requests with a
//! foreign `Host` or `Origin` are refused (see `guard`). The route table is in `routes`; `docs/rest-api.md`
//! describes the contract.

mod assets;
mod auth;
pub(crate) mod body;
mod encoding;
mod error;
pub(crate) mod groups;
mod guard;
mod metrics;
mod node;
pub(crate) mod offsets;
mod openapi;
pub(crate) mod poll;
pub(crate) mod produce;
mod responses;
mod routes;
mod server;
pub(crate) mod streams;
mod system;
mod tokens;
pub(crate) mod topics;
mod users;

pub use encoding::Encoding;
pub use error::{ApiError, ErrorBody, HttpCode, code_name, code_status};
pub use guard::allowed_hosts;
pub use metrics::{GROUP_LAG, LATENCY_BUCKETS, PARTITIONS, RESTARTS};
pub use node::{ListenerInfo, Node};
pub use openapi::ApiDoc;
pub use server::{HttpConfig, HttpGateway};
pub use tokens::LOGIN_TOKEN_LIFETIME;
