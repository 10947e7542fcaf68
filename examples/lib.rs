//! Code the example programs share: the SPGR signal model and its least-squares pieces
//! ([`spgr`]), and how a program reports a hit ([`report`]).

pub mod report;
pub mod spgr;
