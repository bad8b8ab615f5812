//! # callboard-actors
//!
//! Callboard's actor system: supervised topic and partition actors over `callboard-storage`, and the embedded
//! broker API that applications and every gateway use. Being built in issue 3.
