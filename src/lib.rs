//! `lab`: network labs from TOML topologies, realized as Linux network namespaces and
//! checked by probes. The pipeline runs one way, top to bottom:
//!
//! topology (parse, validate) -> model -> graph -> plan -> realize -> probe -> report
//!
//! Only `kernel` (used by `realize` and `probe`) and `sandbox` touch the kernel; `state`
//! is what a lab that is up leaves for later commands.

pub mod capture;
pub mod cli;
pub mod explain;
pub mod graph;
pub mod impair;
pub mod kernel;
pub mod kind;
pub mod model;
pub mod nat;
pub mod plan;
pub mod probe;
pub mod realize;
pub mod report;
pub mod sandbox;
pub mod state;
pub mod topology;
