//! Code the example programs share: the SPGR signal model and its least-squares pieces
//! ([`spgr`]), how a program reports a hit ([`report`]), and the demo viewer's pipeline
//! ported to Rust ([`demo`]).

pub mod demo;
pub mod report;
pub mod spgr;
