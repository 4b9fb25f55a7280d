//! rnatsd: a NATS server compatible with nats-server 2.9, built on a synchronous `mio` reactor.
//!
//! Layers, each using only those above it: [`proto`] (pure parsers and encoders), [`sublist`]
//! (subject matching), [`conf`] (options from flags), [`server`] (reactor, connections, options, logging),
//! [`monitor`] (the HTTP monitoring endpoints).

pub mod conf;
pub mod monitor;
pub mod proto;
pub mod server;
pub mod sublist;
