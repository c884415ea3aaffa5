//! `lab`: network labs from TOML topologies, realized as Linux network namespaces and
//! checked by probes. The pipeline runs one way, top to bottom:
//!
//! topology (parse, validate) -> model -> graph -> plan -> realize -> probe -> report
//!
//! Only `realize`, `probe` and `sandbox` touch the kernel.

pub mod model;
pub mod topology;
pub mod graph;
pub mod cli;
pub mod report;
