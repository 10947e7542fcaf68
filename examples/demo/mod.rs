//! The demo viewer's pipeline (www/worker.js) in Rust: the simulated phantom
//! ([`phantom`]), its T1 map with bootstrap SD ([`fit`]), and the smoothed R1 map
//! ([`smooth`]), ported from www/lib/ with the same random numbers ([`rng`]).

pub mod fit;
pub mod phantom;
pub mod rng;
pub mod smooth;
