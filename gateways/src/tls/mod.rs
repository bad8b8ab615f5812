//! TLS for every listener: [`TlsSource`] says where the certificate comes from (self-signed in `DATA_DIR/tls` or
//! PEM files), [`identity`] loads it and builds QUIC's configuration, [`ServerTls`] serves it to the TCP, HTTPS and
//! AMQPS listeners and reloads it without a restart, and [`accept`] runs a bounded server handshake. Always rustls
//! with the ring provider.

pub(crate) mod accept;
pub(crate) mod identity;
mod server;

pub use identity::{ALPN, TlsSource};
pub use server::ServerTls;
